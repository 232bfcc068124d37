"""The set-based SQL of `flask seed scale` (PostgreSQL only).

Every statement is one INSERT ... SELECT over generate_series: no row ever passes through
Python. Randomness comes from random() (seeded per connection with setseed, so a load is
repeatable); expressions that must see the same random value twice read it from a subquery
fenced with OFFSET 0, which PostgreSQL evaluates once per row.

The indexes and constraints dropped for the load are recreated from the definitions below,
which are those of migrations/versions/0001_the_whole_data_model.py; tests/seed/test_scale.py
compares them with what the migration creates.
"""

from portal.seed.scale_text import LAB_TESTS

# The exclusion constraint stays on during the load: rows are inserted into its GiST index as
# they come, by two connections at once. Built afterwards it would be one single-threaded pass
# that inserts every row and then searches the index once per row, several times slower on
# two cores. A load that finds it missing puts it back on the empty table first.
EXCLUSION = (
    "ALTER TABLE appointments ADD CONSTRAINT ex_appointments_doctor_no_overlap "
    "EXCLUDE USING gist (doctor_id WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&) "
    "WHERE (status <> 'cancelled')"
)
HAS_EXCLUSION = (
    "SELECT count(*) FROM pg_constraint WHERE conname = 'ex_appointments_doctor_no_overlap'"
)

# Dropped before the load and recreated after it, in this order. Foreign keys of the two big
# tables go too: checked row by row (a trigger per row, a row lock on every referenced row)
# they cost far more than the one set-based check made when they are added back.
APPOINTMENT_INDEXES = (
    "CREATE INDEX ix_appointments_patient_starts ON appointments "
    "(patient_id, starts_at DESC, id DESC)",
    "CREATE INDEX ix_appointments_doctor_starts ON appointments (doctor_id, starts_at)",
    "ALTER TABLE appointments ADD CONSTRAINT fk_appointments_patient_id_patients "
    "FOREIGN KEY (patient_id) REFERENCES patients (id)",
    "ALTER TABLE appointments ADD CONSTRAINT fk_appointments_doctor_id_doctors "
    "FOREIGN KEY (doctor_id) REFERENCES doctors (id)",
)
# The unique constraint's index is built beside the others (CREATE INDEX runs in parallel
# with CREATE INDEX; ALTER TABLE does not), then taken over by the constraint at no cost.
RECORD_INDEXES = (
    "CREATE INDEX ix_medical_records_patient_created ON medical_records "
    "(patient_id, created_at DESC, id DESC)",
    "CREATE INDEX ix_medical_records_patient_type_created ON medical_records "
    "(patient_id, record_type, created_at DESC)",
    "CREATE UNIQUE INDEX uq_medical_records_supersedes_id ON medical_records (supersedes_id)",
)
RECORD_CONSTRAINTS = (
    "ALTER TABLE medical_records ADD CONSTRAINT uq_medical_records_supersedes_id "
    "UNIQUE USING INDEX uq_medical_records_supersedes_id",
    "ALTER TABLE medical_records ADD CONSTRAINT fk_medical_records_patient_id_patients "
    "FOREIGN KEY (patient_id) REFERENCES patients (id)",
    "ALTER TABLE medical_records ADD CONSTRAINT fk_medical_records_doctor_id_doctors "
    "FOREIGN KEY (doctor_id) REFERENCES doctors (id)",
    "ALTER TABLE medical_records ADD CONSTRAINT fk_medical_records_appointment_id_appointments "
    "FOREIGN KEY (appointment_id) REFERENCES appointments (id)",
    "ALTER TABLE medical_records ADD CONSTRAINT fk_medical_records_supersedes_id_medical_records "
    "FOREIGN KEY (supersedes_id) REFERENCES medical_records (id)",
)
DROP_FOR_LOAD = (
    "DROP TABLE IF EXISTS scale_record_source, scale_record_data",
    "ALTER TABLE medical_records "
    "DROP CONSTRAINT IF EXISTS fk_medical_records_patient_id_patients, "
    "DROP CONSTRAINT IF EXISTS fk_medical_records_doctor_id_doctors, "
    "DROP CONSTRAINT IF EXISTS fk_medical_records_appointment_id_appointments, "
    "DROP CONSTRAINT IF EXISTS fk_medical_records_supersedes_id_medical_records, "
    "DROP CONSTRAINT IF EXISTS uq_medical_records_supersedes_id",
    "ALTER TABLE appointments "
    "DROP CONSTRAINT IF EXISTS fk_appointments_patient_id_patients, "
    "DROP CONSTRAINT IF EXISTS fk_appointments_doctor_id_doctors",
    "DROP INDEX IF EXISTS ix_appointments_patient_starts, ix_appointments_doctor_starts, "
    "ix_medical_records_patient_created, ix_medical_records_patient_type_created, "
    "uq_medical_records_supersedes_id",
)

# Session settings for a bulk load. No statement timeout (the app's is 15 s); commits need not
# wait for the disk (a crash loses the last moments of a load that is rerun anyway).
SESSION_SETTINGS = (
    "SET statement_timeout = 0",
    "SET lock_timeout = 0",
    "SET synchronous_commit = off",
    "SET maintenance_work_mem = '2GB'",
    "SET work_mem = '1GB'",
    "SET max_parallel_maintenance_workers = 0",  # the loader runs its own two connections
    "SET jit = off",
    "SET synchronize_seqscans = off",  # scans of the scratch table start at its first row
    "SET TIME ZONE 'UTC'",
)
# Full-page images of the GiST pages dominate the WAL of the load; a superuser may compress them.
OPTIONAL_SETTINGS = ("SET wal_compression = lz4", "SET wal_compression = on")

USERS = """
INSERT INTO users (id, email, password_hash, role, clinic_id, active, created_at,
                   password_changed_at)
SELECT u.id, u.email, :password_hash, u.role, u.clinic_id, true, u.created_at, u.created_at
FROM (
    SELECT n AS id, 'admin' || n || '@scale.example.com' AS email, 'clinic_admin' AS role,
           n AS clinic_id, CAST(:first_day AS timestamptz) - interval '90 days' AS created_at
    FROM generate_series(1, CAST(:clinics AS int)) AS n
    UNION ALL
    SELECT :clinics + n, 'doctor' || n || '@scale.example.com', 'doctor', NULL,
           CAST(:first_day AS timestamptz) - interval '60 days'
    FROM generate_series(1, CAST(:doctors AS int)) AS n
    UNION ALL
    SELECT :clinics + :doctors + n, 'patient' || n || '@scale.example.com', 'patient', NULL,
           CAST(:first_day AS timestamptz) - make_interval(mins => floor(random() * 525600)::int)
    FROM generate_series(1, CAST(:patients AS int)) AS n
) AS u
"""

# Doctors fill the clinics in blocks (doctor n works at clinic 1 + (n - 1) * clinics / doctors),
# so every clinic has every specialization; slot lengths cycle 15, 20, 30.
DOCTORS = """
INSERT INTO doctors (id, user_id, clinic_id, full_name, specialization, consultation_fee)
SELECT n, :clinics + n, 1 + (n - 1) * :clinics / :doctors,
       'Dr. ' || (CAST(:first_names AS text[]))[1 + floor(random() * :n_first)::int]
           || ' ' || (CAST(:last_names AS text[]))[1 + floor(random() * :n_last)::int],
       (CAST(:specializations AS text[]))[1 + (n - 1) % :n_specializations],
       (ARRAY[60, 75, 90, 110, 120, 150])[1 + floor(random() * 6)::int]
FROM generate_series(1, CAST(:doctors AS int)) AS n
"""

PATIENTS = """
INSERT INTO patients (id, user_id, full_name, birth_date, phone, notify_email, notify_sms)
SELECT n, :clinics + :doctors + n,
       (CAST(:first_names AS text[]))[1 + floor(random() * :n_first)::int]
           || ' ' || (CAST(:last_names AS text[]))[1 + floor(random() * :n_last)::int],
       DATE '1938-01-01' + floor(random() * 30000)::int,
       '+1555' || lpad((n % 10000000)::text, 7, '0'),
       true,
       random() < 0.67
FROM generate_series(1, CAST(:patients AS int)) AS n
"""

SCHEDULES = """
INSERT INTO doctor_schedules (doctor_id, weekday, start_time, end_time, slot_minutes,
                              valid_from, valid_to)
SELECT d.id, w, b.start_time, b.end_time, (ARRAY[15, 20, 30])[1 + (d.id - 1) % 3],
       CAST(:first_day AS date), NULL
FROM doctors AS d
CROSS JOIN generate_series(0, 4) AS w
CROSS JOIN (VALUES (TIME '09:00', TIME '12:00'), (TIME '13:00', TIME '17:00'))
    AS b (start_time, end_time)
ORDER BY d.id, w, b.start_time
"""

# A week of vacation every 26 weeks, staggered by doctor: local Monday 00:00 to Saturday 00:00.
# APPOINTMENTS skips the same weeks with the same formula.
TIME_OFF = """
INSERT INTO schedule_exceptions (doctor_id, starts_at, ends_at, reason)
SELECT d.id,
       (CAST(:epoch_monday AS date) + 7 * w)::timestamp AT TIME ZONE c.timezone,
       (CAST(:epoch_monday AS date) + 7 * w + 5)::timestamp AT TIME ZONE c.timezone,
       'Vacation'
FROM doctors AS d
JOIN clinics AS c ON c.id = d.clinic_id
CROSS JOIN generate_series(CAST(:first_week AS int), CAST(:last_week AS int)) AS w
WHERE (w + d.id) % 26 = 0
ORDER BY d.id, w
"""

# One row per appointment of the days from :from_day to :to_day, in the order of the visit days
# (ids follow that order, so each patient's rows lie scattered over the whole table as in a
# real one, where rows arrive as visits are booked, days to weeks ahead). A doctor's visits of one
# day take distinct slot positions: first + j * stride modulo the day's slot count, with a
# stride prime to 28, 21 and 14, so a doctor never has two rows on one slot. The patient comes
# from an inverse CDF of one random number: a few very heavy patients, heavy ones on a linear
# ramp, then everyone else on a gentler ramp around the median.
APPOINTMENTS = """
WITH doctor AS MATERIALIZED (
    SELECT d.id, c.timezone AS tz, r.slot_minutes AS len,
           array_position(CAST(:specializations AS text[]), CAST(d.specialization AS text))
               AS spec,
           180 / r.slot_minutes AS morning_slots,
           420 / r.slot_minutes AS slots,
           :per_day * (0.5 + (d.id * 37 % 101) / 100.0) AS mean
    FROM doctors AS d
    JOIN clinics AS c ON c.id = d.clinic_id
    JOIN (SELECT DISTINCT ON (doctor_id) doctor_id, slot_minutes
          FROM doctor_schedules ORDER BY doctor_id, weekday) AS r ON r.doctor_id = d.id
    WHERE d.id % :streams = :stream
),
day AS MATERIALIZED (
    SELECT day, (day - CAST(:epoch_monday AS date)) / 7 AS week
    FROM (SELECT CAST(:from_day AS date) + n AS day
          FROM generate_series(0, CAST(:to_day AS date) - CAST(:from_day AS date)) AS n) AS s
    WHERE extract(isodow FROM day) < 6
),
visit AS (
    SELECT d.id AS doctor_id, d.spec, d.len, slot.starts_at,
           rnd.u, rnd.r_status, rnd.r_kind, rnd.r_reason, rnd.r_lead, rnd.r_checkin
    FROM day
    CROSS JOIN LATERAL (
        SELECT doctor.*,
               least(doctor.slots,
                     floor(doctor.mean * (0.4 + 1.2 * random()) + random()))::int AS n,
               floor(random() * doctor.slots)::int AS first_pos,
               (ARRAY[5, 11, 13, 17, 19])[1 + floor(random() * 5)::int] AS stride
        FROM doctor
        WHERE (day.week + doctor.id) % 26 <> 0
        OFFSET 0
    ) AS d
    CROSS JOIN LATERAL generate_series(0, d.n - 1) AS j
    CROSS JOIN LATERAL (
        SELECT (day.day + make_interval(mins => CASE
                    WHEN p.pos < d.morning_slots THEN 540 + p.pos * d.len
                    ELSE 780 + (p.pos - d.morning_slots) * d.len END))
               AT TIME ZONE d.tz AS starts_at
        FROM (SELECT (d.first_pos + j * d.stride) % d.slots AS pos) AS p
    ) AS slot
    CROSS JOIN LATERAL (
        SELECT random() AS u, random() AS r_status, random() AS r_kind, random() AS r_reason,
               random() AS r_lead, random() AS r_checkin, j AS keep_per_row
        OFFSET 0
    ) AS rnd
),
booked AS (
    SELECT v.*,
           CASE
               WHEN v.u < :share_top THEN 1 + floor(v.u / :share_top * :top)::int
               WHEN v.u < :share_top + :share_heavy THEN :top + 1 + least(:heavy - 1, floor(
                   :heavy * (1 - sqrt(1 - :ramp_kk * (v.u - :share_top) / :share_heavy))
                   / :ramp_k)::int)
               ELSE :top + :heavy + 1 + least(:others - 1, floor(
                   :others * (1 - sqrt(1 - :ramp_kk * (v.u - :share_top - :share_heavy)
                                          / :share_others))
                   / :ramp_k)::int)
           END AS patient_id,
           CASE
               WHEN v.starts_at >= now() THEN
                   CASE WHEN v.r_status < 0.95 THEN 'scheduled' ELSE 'cancelled' END
               WHEN v.r_status < 0.85 THEN 'completed'
               WHEN v.r_status < 0.95 THEN 'cancelled'
               ELSE 'no_show'
           END AS status,
           least(v.starts_at - make_interval(mins => 60 + floor(v.r_lead ^ 2 * 64800)::int),
                 now() - make_interval(mins => floor(v.r_lead * 4320)::int)) AS created_at
    FROM visit AS v
)
INSERT INTO appointments (patient_id, doctor_id, starts_at, ends_at, status, kind, reason,
                          checked_in_at, created_at, updated_at)
SELECT b.patient_id, b.doctor_id, b.starts_at, b.starts_at + make_interval(mins => b.len),
       b.status,
       CASE WHEN b.r_kind < 0.25 THEN 'video' ELSE 'in_person' END,
       (CAST(:reasons AS text[]))[b.spec][1 + floor(b.r_reason * :n_reasons)::int],
       CASE WHEN b.status = 'completed'
            THEN b.starts_at - make_interval(mins => floor(b.r_checkin * 15)::int) END,
       b.created_at,
       CASE b.status
           WHEN 'completed' THEN b.starts_at + make_interval(mins => b.len + 5)
           WHEN 'no_show' THEN b.starts_at + make_interval(mins => b.len)
           WHEN 'cancelled' THEN least(b.created_at + (b.starts_at - b.created_at) / 2, now())
           ELSE b.created_at
       END
FROM booked AS b
"""

# A patient never holds two overlapping active visits: walking each patient's visits in time
# order, a visit that starts before an earlier one has ended is cancelled. One share of the
# patients per connection.
PATIENT_CLASHES = """
UPDATE appointments AS a
SET status = 'cancelled', checked_in_at = NULL,
    updated_at = least(a.created_at + (a.starts_at - a.created_at) / 2, now())
FROM (
    SELECT id
    FROM (
        SELECT id, starts_at,
               max(ends_at) OVER (PARTITION BY patient_id ORDER BY starts_at, id
                                  ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS busy_until
        FROM appointments
        WHERE status <> 'cancelled' AND patient_id % :streams = :stream
    ) AS w
    WHERE w.starts_at < w.busy_until
) AS clash
WHERE a.id = clash.id
"""

COMPLETED_VISITS = "SELECT count(*) FROM appointments WHERE status = 'completed'"

# The completed visits that get a record, numbered in visit order: the record ids. A scratch
# table (UNLOGGED: it is dropped at the end) so that several connections can share the work.
RECORD_SOURCE = """
CREATE UNLOGGED TABLE scale_record_source AS
SELECT row_number() OVER (ORDER BY a.id) AS record_id, a.id AS appointment_id,
       a.patient_id, a.doctor_id, a.ends_at,
       array_position(CAST(:specializations AS text[]), CAST(d.specialization AS text)) AS spec
FROM (SELECT id, patient_id, doctor_id, ends_at FROM appointments
      WHERE status = 'completed' AND random() < :share OFFSET 0) AS a
JOIN doctors AS d ON d.id = a.doctor_id
"""

LAB_ENTRY = (
    "jsonb_build_object('test', '{name}', 'unit', '{unit}', 'reference', '{low}-{high}', "
    "'value', round(CAST({low} + {span} * r.x{n} AS numeric), 2), "
    "'flag', CASE WHEN r.x{n} < 0 THEN 'low' WHEN r.x{n} > 1 THEN 'high' ELSE 'normal' END)"
)
LAB_PANEL = ",\n".join(
    LAB_ENTRY.format(name=name, unit=unit, low=low, high=high, span=high - low, n=n)
    for n, (name, unit, low, high) in enumerate(LAB_TESTS, start=1)
)
LAB_RANDOMS = ", ".join(f"random() * 1.3 - 0.15 AS x{n}" for n in range(1, len(LAB_TESTS) + 1))

# The records' jsonb (about 1.6 KB: vitals, a lab panel, an assessment, notes) comes from a pool
# of documents, :variants per diagnosis, built once: jsonb_build_object and compression cost
# more per row than everything else a record needs. The padding pushes each pool row past the
# TOAST threshold, so PostgreSQL stores the document compressed, and the records take it over as
# it is, compressed the way PostgreSQL would have compressed it for them. Key: (specialization,
# diagnosis, variant).
RECORD_DATA = (
    """
CREATE UNLOGGED TABLE scale_record_data AS
SELECT ((spec - 1) * :n_diagnoses + dx - 1) * :variants + variant AS key,
       repeat('-', 400) AS padding,
       jsonb_build_object(
           'vitals', jsonb_build_object(
               'pulse', 55 + floor(r.r_pulse * 45)::int,
               'blood_pressure', jsonb_build_object(
                   'systolic', 105 + floor(r.r_bp * 55)::int,
                   'diastolic', 65 + floor(r.r_bp * 35)::int),
               'temperature_c', round(CAST(36.1 + r.r_temp * 2.3 AS numeric), 1),
               'respiratory_rate', 12 + floor(r.r_temp * 8)::int,
               'spo2', 94 + floor(r.r_pulse * 7)::int,
               'weight_kg', round(CAST(50 + r.r_weight * 60 AS numeric), 1),
               'height_cm', 150 + floor(r.r_weight * 45)::int),
           'labs', jsonb_build_array(
"""
    + LAB_PANEL
    + """
           ),
           'allergies', jsonb_build_array(
               (CAST(:allergies AS text[]))[1 + floor(r.r_allergy * :n_allergies)::int]),
           'assessment', jsonb_build_object(
               'icd10', (CAST(:icd10 AS text[]))[spec][dx],
               'severity', (CAST(:severities AS text[]))[1 + floor(r.r_bp * :n_severities)::int],
               'trend', (CAST(:trends AS text[]))[1 + floor(r.r_follow * :n_trends)::int]),
           'medications', CASE
               WHEN (CAST(:prescriptions AS text[]))[spec][dx] = 'None' THEN '[]'::jsonb
               ELSE jsonb_build_array(jsonb_build_object(
                   'name', (CAST(:prescriptions AS text[]))[spec][dx],
                   'since_weeks', 1 + floor(r.r_follow * 104)::int,
                   'adherence', CASE WHEN r.r_rx < 0.8 THEN 'good' ELSE 'partial' END))
           END,
           'notes', (CAST(:notes AS text[]))[1 + floor(r.r_notes * :n_notes)::int],
           'follow_up_weeks', 1 + floor(r.r_plan * 12)::int,
           'pain_score', floor(r.r_rx * 11)::int,
           'smoker', r.r_allergy < 0.18,
           'source', 'flask seed scale') AS data
FROM generate_series(1, CAST(:n_specializations AS int)) AS spec
CROSS JOIN generate_series(1, CAST(:n_diagnoses AS int)) AS dx
CROSS JOIN generate_series(0, CAST(:variants AS int) - 1) AS variant
CROSS JOIN LATERAL (
    SELECT random() AS r_plan, random() AS r_rx, random() AS r_pulse, random() AS r_bp,
           random() AS r_temp, random() AS r_weight, random() AS r_allergy,
           random() AS r_notes, random() AS r_follow, """
    + LAB_RANDOMS
    + """, variant AS keep_per_row
    OFFSET 0
) AS r
"""
)

# Text about 700 bytes (diagnosis and prescription), assembled per record; the jsonb from the
# pool, of the same diagnosis.
RECORDS = """
INSERT INTO medical_records (id, patient_id, doctor_id, appointment_id, created_at, record_type,
                             diagnosis, prescription, data)
SELECT s.record_id, s.patient_id, s.doctor_id, s.appointment_id,
       s.ends_at + make_interval(mins => 2 + floor(r.r_created * 25)::int),
       (CAST(:record_types AS text[]))[1 + floor(r.r_type * :n_record_types)::int],
       (CAST(:diagnoses AS text[]))[s.spec][r.dx]
           || ' ' || (CAST(:history AS text[]))[1 + floor(r.r_history * :n_history)::int]
           || ' ' || (CAST(:examination AS text[]))[1 + floor(r.r_exam * :n_examination)::int]
           || ' ' || (CAST(:plan AS text[]))[1 + floor(r.r_plan * :n_plan)::int]
           || ' ' || (CAST(:follow_up AS text[]))[1 + floor(r.r_follow * :n_follow_up)::int],
       (CAST(:prescriptions AS text[]))[s.spec][r.dx]
           || '. ' || (CAST(:rx_notes AS text[]))[1 + floor(r.r_rx * :n_rx_notes)::int],
       pool.data
FROM scale_record_source AS s
CROSS JOIN LATERAL (
    SELECT random() AS r_created, random() AS r_type, random() AS r_history, random() AS r_exam,
           random() AS r_plan, random() AS r_rx, random() AS r_follow,
           1 + floor(random() * :n_diagnoses)::int AS dx,
           floor(random() * :variants)::int AS variant, s.record_id AS keep_per_row
    OFFSET 0
) AS r
JOIN scale_record_data AS pool
    ON pool.key = ((s.spec - 1) * :n_diagnoses + r.dx - 1) * :variants + r.variant
WHERE s.record_id BETWEEN :first_id AND :last_id
"""
