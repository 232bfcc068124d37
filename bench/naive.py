"""The review's naive query patterns, and ours, as plain SQL for direct timing.

The naive ones live here only, never in the product: they are what the benchmark compares
against.
"""

from datetime import UTC, datetime, timedelta


def _window():
    start = datetime.now(UTC)
    return start, start + timedelta(days=7)


def search_n_plus_one(conn, specialization: str, city: str) -> int:
    """Doctors of a specialization, then per doctor its clinic, rules and bookings: N+1."""
    start, end = _window()
    doctors = conn.execute(
        "SELECT id, clinic_id FROM doctors WHERE specialization = %s", (specialization,)
    ).fetchall()
    rows = 0
    for doctor_id, clinic_id in doctors:
        clinic = conn.execute(
            "SELECT city, timezone FROM clinics WHERE id = %s", (clinic_id,)
        ).fetchone()
        if clinic[0] != city:
            continue
        rows += len(
            conn.execute(
                "SELECT * FROM doctor_schedules WHERE doctor_id = %s", (doctor_id,)
            ).fetchall()
        )
        rows += len(
            conn.execute(
                "SELECT starts_at, ends_at FROM appointments WHERE doctor_id = %s "
                "AND starts_at >= %s AND starts_at < %s AND status <> 'cancelled'",
                (doctor_id, start, end),
            ).fetchall()
        )
    return rows


def search_set_based(conn, specialization: str, city: str) -> int:
    """Our search reads: the doctors with their clinics, then three reads for all of them."""
    start, end = _window()
    ids = [
        row[0]
        for row in conn.execute(
            "SELECT d.id FROM doctors d JOIN clinics c ON c.id = d.clinic_id JOIN users u ON u.id = d.user_id "
            "WHERE d.specialization = %s AND c.city = %s AND u.active",
            (specialization, city),
        )
    ]
    rows = len(
        conn.execute("SELECT * FROM doctor_schedules WHERE doctor_id = ANY(%s)", (ids,)).fetchall()
    )
    rows += len(
        conn.execute(
            "SELECT doctor_id, starts_at, ends_at FROM schedule_exceptions WHERE doctor_id = ANY(%s) "
            "AND starts_at < %s AND ends_at > %s",
            (ids, end, start),
        ).fetchall()
    )
    rows += len(
        conn.execute(
            "SELECT doctor_id, starts_at, ends_at FROM appointments WHERE doctor_id = ANY(%s) "
            "AND starts_at >= %s AND starts_at < %s AND status <> 'cancelled'",
            (ids, start - timedelta(days=1), end),
        ).fetchall()
    )
    return rows


HISTORY_COLUMNS = (
    "a.id, a.starts_at, a.ends_at, a.status, a.kind, a.reason, d.full_name, d.specialization, "
    "c.name, c.city, c.timezone"
)
HISTORY_FROM = (
    "FROM appointments a JOIN doctors d ON d.id = a.doctor_id JOIN clinics c ON c.id = d.clinic_id"
)


def history_unbounded(conn, patient_id: int) -> int:
    """The whole history of a patient in one answer (review finding C1)."""
    return len(
        conn.execute(
            f"SELECT {HISTORY_COLUMNS} {HISTORY_FROM} WHERE a.patient_id = %s ORDER BY a.starts_at DESC",
            (patient_id,),
        ).fetchall()
    )


def history_offset(conn, patient_id: int, page: int, size: int = 20) -> int:
    """OFFSET paging: the deeper the page, the more rows are read and thrown away."""
    return len(
        conn.execute(
            f"SELECT {HISTORY_COLUMNS} {HISTORY_FROM} WHERE a.patient_id = %s "
            "ORDER BY a.starts_at DESC, a.id DESC OFFSET %s LIMIT %s",
            (patient_id, page * size, size),
        ).fetchall()
    )


def history_keyset(conn, patient_id: int, after: tuple | None, size: int = 20) -> int:
    """Our keyset page: (starts_at, id) below the cursor, straight from the index."""
    if after is None:
        sql = f"SELECT {HISTORY_COLUMNS} {HISTORY_FROM} WHERE a.patient_id = %s ORDER BY a.starts_at DESC, a.id DESC LIMIT %s"
        params = (patient_id, size + 1)
    else:
        sql = (
            f"SELECT {HISTORY_COLUMNS} {HISTORY_FROM} WHERE a.patient_id = %s AND (a.starts_at, a.id) < (%s, %s) "
            "ORDER BY a.starts_at DESC, a.id DESC LIMIT %s"
        )
        params = (patient_id, after[0], after[1], size + 1)
    return len(conn.execute(sql, params).fetchall())


def history_cursor_at(conn, patient_id: int, depth: int) -> tuple:
    """The (starts_at, id) of the row `depth` rows deep in a patient's history."""
    return conn.execute(
        "SELECT starts_at, id FROM appointments WHERE patient_id = %s ORDER BY starts_at DESC, id DESC OFFSET %s LIMIT 1",
        (patient_id, depth),
    ).fetchone()


RECORD_COLUMNS = (
    "id, created_at, record_type, diagnosis, prescription, data, doctor_id, appointment_id"
)


def records_unbounded(conn, patient_id: int) -> int:
    """All medical records of a patient, text and jsonb included (review finding C2)."""
    return len(
        conn.execute(
            f"SELECT {RECORD_COLUMNS} FROM medical_records WHERE patient_id = %s ORDER BY created_at DESC",
            (patient_id,),
        ).fetchall()
    )


def records_keyset(conn, patient_id: int, size: int = 20) -> int:
    """Our records page: the first page newest first, from the index."""
    return len(
        conn.execute(
            f"SELECT {RECORD_COLUMNS} FROM medical_records WHERE patient_id = %s "
            "ORDER BY created_at DESC, id DESC LIMIT %s",
            (patient_id, size + 1),
        ).fetchall()
    )
