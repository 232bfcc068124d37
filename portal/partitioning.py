"""Monthly partitions of appointments: the migration path (not applied by default).

`flask db partition-appointments` turns the appointments table into one partitioned by month
of starts_at (UTC), in one transaction; `flask db add-appointment-partitions` makes the months
ahead and must run at least monthly once the table is partitioned (an appointment in a month
with no partition is refused). docs/scaling.md says when to do this and what it costs.

No double booking, across partitions too. PostgreSQL 15 cannot put an exclusion constraint on
a partitioned table, only on each partition, and each partition's constraint sees only its
own rows. Two overlapping visits of one doctor in different partitions must have one that
crosses the month boundary between them, and since no visit is longer than a day
(ck_appointments_at_most_a_day), both lie within a day of that boundary. For exactly those
rows a trigger (appointments_no_overlap_across_months) takes a transaction lock on
(doctor, boundary) and then looks for an overlapping active visit on the other side. Two
conflicting inserts take the same lock, so the second waits for the first to commit, and its
check, a new statement with a new snapshot, sees the first row; it fails with SQLSTATE 23P01
like the constraint itself, which the booking service already answers with 409. Visits away
from a boundary pay one function call and no lock.

Refusing visits that cross a boundary would be simpler and wrong: a boundary is midnight UTC,
which is evening in the Americas, where a 45-minute grid (18:45-19:30 in New York) crosses it.

What changes beyond the table: the primary key becomes (id, starts_at) (a partitioned table's
unique constraints must contain the partition key), so the foreign keys from medical_records,
notifications and video_rooms to appointments(id) are dropped; appointments are never deleted
(cancelling is a status), so nothing the application does can leave them dangling.
"""

from datetime import UTC, date, datetime

from sqlalchemy import text
from sqlalchemy.engine import Connection

GUARD = "appointments_no_overlap_across_months"
MAX_LENGTH_CHECK = "ck_appointments_at_most_a_day"
REFERENCING = {
    "medical_records": "fk_medical_records_appointment_id_appointments",
    "notifications": "fk_notifications_appointment_id_appointments",
    "video_rooms": "fk_video_rooms_appointment_id_appointments",
}

GUARD_FUNCTION = """
CREATE FUNCTION GUARD() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    month_start timestamptz := date_trunc('month', NEW.starts_at, 'UTC');
    next_month timestamptz := month_start + interval '1 month';
BEGIN
    IF NEW.status = 'cancelled' THEN
        RETURN NULL;
    END IF;
    -- It crosses into the next month: is someone already there?
    IF NEW.ends_at > next_month THEN
        PERFORM pg_advisory_xact_lock(NEW.doctor_id,
                                      (extract(epoch FROM next_month) / 86400)::integer);
        IF EXISTS (SELECT 1 FROM appointments a
                   WHERE a.doctor_id = NEW.doctor_id AND a.status <> 'cancelled'
                     AND a.starts_at >= next_month AND a.starts_at < NEW.ends_at) THEN
            RAISE EXCEPTION USING ERRCODE = 'exclusion_violation', CONSTRAINT = 'GUARD',
                MESSAGE = 'conflicting key value violates exclusion constraint "GUARD"';
        END IF;
    END IF;
    -- It starts in a month's first day: does a visit of the month before cross into it?
    IF NEW.starts_at < month_start + interval '1 day' THEN
        PERFORM pg_advisory_xact_lock(NEW.doctor_id,
                                      (extract(epoch FROM month_start) / 86400)::integer);
        IF EXISTS (SELECT 1 FROM appointments a
                   WHERE a.doctor_id = NEW.doctor_id AND a.status <> 'cancelled'
                     AND a.starts_at >= month_start - interval '1 day'
                     AND a.starts_at < month_start AND a.ends_at > NEW.starts_at) THEN
            RAISE EXCEPTION USING ERRCODE = 'exclusion_violation', CONSTRAINT = 'GUARD',
                MESSAGE = 'conflicting key value violates exclusion constraint "GUARD"';
        END IF;
    END IF;
    RETURN NULL;
END
$$
""".replace("GUARD", GUARD)


def month_start(moment: datetime | date) -> date:
    """The first day of the (UTC) month of `moment`."""
    if isinstance(moment, datetime):
        moment = moment.astimezone(UTC).date()
    return moment.replace(day=1)


def add_months(month: date, months: int) -> date:
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def months(first: date, last: date) -> list[date]:
    """Every month from `first` to `last`, both included."""
    result, month = [], month_start(first)
    while month <= last:
        result.append(month)
        month = add_months(month, 1)
    return result


def partition_name(month: date) -> str:
    return f"appointments_p{month:%Y_%m}"


def partition_ddl(month: date) -> list[str]:
    """One month's partition and its exclusion constraint (the rows of that month only)."""
    name = partition_name(month)
    return [
        f"CREATE TABLE {name} PARTITION OF appointments FOR VALUES "
        f"FROM ('{month.isoformat()} 00:00+00') TO ('{add_months(month, 1).isoformat()} 00:00+00')",
        f"ALTER TABLE {name} ADD CONSTRAINT ex_{name}_no_overlap EXCLUDE USING gist "
        "(doctor_id WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&) "
        "WHERE (status <> 'cancelled')",
    ]


def conversion_sql(first: date, last: date) -> list[str]:
    """The statements that turn appointments into monthly partitions from `first` to `last`.

    Run them in one transaction: the table is locked for the whole copy (its exclusion
    constraints and indexes are built row by row as it fills, as in the full-scale load).
    """
    statements = [
        "LOCK TABLE appointments IN ACCESS EXCLUSIVE MODE",
        "ALTER TABLE appointments RENAME TO appointments_unpartitioned",
        # Index and constraint names are unique per schema: free them for the new table.
        "ALTER TABLE appointments_unpartitioned RENAME CONSTRAINT pk_appointments "
        "TO pk_appointments_unpartitioned",
        "ALTER INDEX ix_appointments_patient_starts RENAME TO ix_appointments_unpartitioned_1",
        "ALTER INDEX ix_appointments_doctor_starts RENAME TO ix_appointments_unpartitioned_2",
        "ALTER TABLE appointments_unpartitioned RENAME CONSTRAINT "
        "ex_appointments_doctor_no_overlap TO ex_appointments_unpartitioned",
        # Same columns, defaults (the id sequence) and CHECK constraints.
        "CREATE TABLE appointments (LIKE appointments_unpartitioned INCLUDING DEFAULTS "
        "INCLUDING CONSTRAINTS INCLUDING STORAGE) PARTITION BY RANGE (starts_at)",
        "ALTER TABLE appointments ADD CONSTRAINT pk_appointments PRIMARY KEY (id, starts_at)",
        f"ALTER TABLE appointments ADD CONSTRAINT {MAX_LENGTH_CHECK} "
        "CHECK (ends_at <= starts_at + interval '1 day')",
        "ALTER TABLE appointments ADD CONSTRAINT fk_appointments_patient_id_patients "
        "FOREIGN KEY (patient_id) REFERENCES patients (id)",
        "ALTER TABLE appointments ADD CONSTRAINT fk_appointments_doctor_id_doctors "
        "FOREIGN KEY (doctor_id) REFERENCES doctors (id)",
        # The indexes of migrations/versions/0001, on every partition.
        "CREATE INDEX ix_appointments_patient_starts ON appointments "
        "(patient_id, starts_at DESC, id DESC)",
        "CREATE INDEX ix_appointments_doctor_starts ON appointments (doctor_id, starts_at)",
    ]
    for month in months(first, last):
        statements += partition_ddl(month)
    statements += [
        GUARD_FUNCTION,
        f"CREATE TRIGGER {GUARD} AFTER INSERT OR UPDATE ON appointments "
        f"FOR EACH ROW EXECUTE FUNCTION {GUARD}()",
    ]
    statements += [
        f"ALTER TABLE {table} DROP CONSTRAINT {constraint}"
        for table, constraint in REFERENCING.items()
    ]
    statements += [
        "INSERT INTO appointments SELECT * FROM appointments_unpartitioned",
        "ALTER SEQUENCE appointments_id_seq OWNED BY appointments.id",
        "DROP TABLE appointments_unpartitioned",
        "ANALYZE appointments",
    ]
    return statements


def is_partitioned(conn: Connection) -> bool:
    """True once appointments is a partitioned table."""
    kind = conn.execute(
        text("SELECT relkind FROM pg_class WHERE oid = to_regclass('appointments')")
    ).scalar()
    return kind == "p"


def data_months(conn: Connection, months_ahead: int, today: date) -> tuple[date, date]:
    """The months the partitions must cover: the oldest visit to `months_ahead` past the
    latest visit or this month, whichever is later."""
    oldest, latest = conn.execute(
        text("SELECT min(starts_at), max(starts_at) FROM appointments")
    ).one()
    first = month_start(oldest) if oldest else month_start(today)
    last = max(month_start(latest) if latest else first, month_start(today))
    return min(first, month_start(today)), add_months(last, months_ahead)


def existing_partitions(conn: Connection) -> set[str]:
    rows = conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'appointments'::regclass"
        )
    )
    return set(rows.scalars())


def missing_partitions(conn: Connection, through: date, today: date) -> list[date]:
    """The months from this one to `through` that have no partition yet."""
    have = existing_partitions(conn)
    return [m for m in months(month_start(today), through) if partition_name(m) not in have]
