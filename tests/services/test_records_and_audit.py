"""Medical records: who may read them, keyset pages, amendments, and the audit row of every read."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import event, select, text

from portal.extensions import db
from portal.models import AuditLog, MedicalRecord, Patient, User
from portal.services.audit import WRITE, AuditFailed, audit_record_write
from portal.services.history import InvalidFilter
from portal.services.pagination import BadCursor, BadLimit
from portal.services.records import (
    NotAllowed,
    medical_records_page,
    record_read_allowed,
)
from tests.factories import (
    gen_admin,
    gen_appointment,
    gen_bulk_doctors,
    gen_bulk_patients,
    gen_bulk_records,
    gen_clinic,
    gen_doctor,
    gen_patient,
    gen_record,
)
from tests.query_plans import captured_select, plan_nodes

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
NO_AUDIT_ROLE = "portal_test_hist_no_audit"


def user_of(row) -> User:
    return db.session.get(User, row.user_id)


@pytest.fixture
def visit(app_ctx):
    """A patient's visit with a doctor (so the doctor may read the patient's records)."""
    doctor = gen_doctor(gen_clinic(timezone="Europe/Berlin"))
    return gen_appointment(gen_patient(), doctor, NOW - timedelta(days=3), status="completed")


def gen_records(visit, count: int, ties_every: int = 3) -> list[MedicalRecord]:
    """Records an hour apart, except that each group of `ties_every` shares its created_at."""
    return [
        gen_record(visit, created_at=NOW - timedelta(hours=n // ties_every), diagnosis=f"Note {n}")
        for n in range(count)
    ]


def walk(actor, patient_id, limit, **filters) -> list[list[int]]:
    pages, cursor = [], None
    while True:
        page = medical_records_page(actor, patient_id, limit=limit, cursor=cursor, **filters)
        pages.append([entry.record.id for entry in page.items])
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor


def audit_rows(patient_id: int | None = None) -> list[AuditLog]:
    query = select(AuditLog).order_by(AuditLog.id)
    if patient_id is not None:
        query = query.where(AuditLog.patient_id == patient_id)
    return list(db.session.scalars(query))


# Who may read.


def test_a_patient_may_read_only_their_own_records(visit):
    patient_user = user_of(visit.patient)
    other = gen_patient()
    assert record_read_allowed(patient_user, visit.patient_id)
    assert not record_read_allowed(patient_user, other.id)
    assert not record_read_allowed(user_of(other), visit.patient_id)


def test_a_doctor_may_read_the_records_of_patients_they_have_or_had_an_appointment_with(visit):
    treating = user_of(visit.doctor)
    stranger = user_of(gen_doctor(visit.doctor.clinic))
    assert record_read_allowed(treating, visit.patient_id)
    assert not record_read_allowed(stranger, visit.patient_id)
    # A cancelled appointment still makes them the patient's doctor.
    other_patient = gen_patient()
    gen_appointment(other_patient, stranger.doctor, NOW + timedelta(days=5), status="cancelled")
    assert record_read_allowed(stranger, other_patient.id)


def test_a_clinic_admin_never_reads_records_even_of_their_own_clinics_patients(visit):
    admin = gen_admin(visit.doctor.clinic)
    assert not record_read_allowed(admin, visit.patient_id)
    with pytest.raises(NotAllowed):
        medical_records_page(admin, visit.patient_id)


def test_a_refused_read_returns_nothing_and_writes_no_audit_row(visit):
    gen_records(visit, 2)
    other = gen_patient()
    with pytest.raises(NotAllowed):
        medical_records_page(user_of(other), visit.patient_id)
    assert audit_rows() == []


# Pages.


def test_pages_walk_all_records_newest_first_with_no_duplicates_and_no_gaps(visit):
    gen_records(visit, 17)
    gen_record(gen_appointment(gen_patient(), visit.doctor, NOW - timedelta(days=9)))
    pages = walk(user_of(visit.patient), visit.patient_id, limit=4)
    walked = [record_id for page in pages for record_id in page]
    expected = list(
        db.session.scalars(
            select(MedicalRecord.id)
            .where(MedicalRecord.patient_id == visit.patient_id)
            .order_by(MedicalRecord.created_at.desc(), MedicalRecord.id.desc())
        )
    )
    assert walked == expected and len(set(walked)) == 17
    assert [len(page) for page in pages] == [4, 4, 4, 4, 1]


def test_record_type_and_dates_filter_in_the_clinics_calendar(visit):
    berlin_evening = datetime(2026, 6, 30, 22, 30, tzinfo=UTC)  # 1 July, 00:30 in Berlin
    july = gen_record(visit, created_at=berlin_evening, record_type="lab_result")
    gen_record(visit, created_at=berlin_evening - timedelta(hours=1), record_type="lab_result")
    gen_record(visit, created_at=berlin_evening + timedelta(hours=1), record_type="imaging")
    reader = user_of(visit.patient)
    page = medical_records_page(
        reader,
        visit.patient_id,
        record_type="lab_result",
        date_from=date(2026, 7, 1),
        date_to=date(2026, 7, 31),
    )
    assert [entry.record.id for entry in page.items] == [july.id]


def test_bad_filters_limits_and_cursors_are_refused(visit):
    gen_records(visit, 5)
    reader = user_of(visit.patient)
    with pytest.raises(InvalidFilter):
        medical_records_page(reader, visit.patient_id, record_type="horoscope")
    with pytest.raises(InvalidFilter):
        medical_records_page(
            reader, visit.patient_id, date_from=date(2026, 2, 2), date_to=date(2026, 2, 1)
        )
    for limit in (0, -1, 10**6, "abc"):
        with pytest.raises(BadLimit):
            medical_records_page(reader, visit.patient_id, limit=limit)
    cursor = medical_records_page(reader, visit.patient_id, limit=2).next_cursor
    with pytest.raises(BadCursor):
        medical_records_page(reader, visit.patient_id, limit=2, cursor=cursor[:-2] + "zz")
    with pytest.raises(BadCursor):
        medical_records_page(
            reader, visit.patient_id, limit=2, cursor=cursor, record_type="imaging"
        )
    # Another patient's list (their own reader) does not accept this patient's cursor.
    other = gen_patient()
    with pytest.raises(BadCursor):
        medical_records_page(user_of(other), other.id, limit=2, cursor=cursor)


def test_an_amended_record_shows_its_latest_version_with_an_amended_note(visit):
    original = gen_record(visit, created_at=NOW - timedelta(days=2), diagnosis="Flu")
    first_fix = gen_record(
        visit, created_at=NOW - timedelta(days=1), diagnosis="Cold", supersedes_id=original.id
    )
    latest = gen_record(visit, created_at=NOW, diagnosis="Allergy", supersedes_id=first_fix.id)
    untouched = gen_record(visit, created_at=NOW - timedelta(days=5), diagnosis="Sprain")
    page = medical_records_page(user_of(visit.patient), visit.patient_id)
    shown = {entry.record.id: entry for entry in page.items}
    assert list(shown) == [latest.id, untouched.id]
    assert shown[latest.id].is_amendment
    assert shown[latest.id].amends_id == first_fix.id
    assert shown[latest.id].amends_created_at == first_fix.created_at
    assert not shown[untouched.id].is_amendment
    # Only what was shown was read.
    assert audit_rows()[-1].record_ids == [latest.id, untouched.id]


def test_one_page_costs_the_same_statements_whatever_its_size_or_the_history(visit):
    gen_records(visit, 5)
    heavy_visit = gen_appointment(gen_patient(), visit.doctor, NOW - timedelta(days=30))
    gen_records(heavy_visit, 60)

    def statements_for(patient_id, limit):
        reader = user_of(db.session.get(Patient, patient_id))
        statements = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            page = medical_records_page(reader, patient_id, limit=limit)
            [(e.record.doctor.full_name, e.record.doctor.clinic.timezone) for e in page.items]
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        return page, statements

    small, small_statements = statements_for(visit.patient_id, 5)
    large, large_statements = statements_for(heavy_visit.patient_id, 50)
    assert len(small.items) == 5 and len(large.items) == 50
    assert len(small_statements) == len(large_statements)
    assert len(large_statements) == 2  # the page's SELECT and the audit INSERT


# The audit trail.


def test_every_read_leaves_an_audit_row_with_actor_patient_ids_address_and_request_id(app, visit):
    records = gen_records(visit, 3)
    doctor_user = user_of(visit.doctor)
    with app.test_request_context(
        "/", environ_base={"REMOTE_ADDR": "203.0.113.7"}, headers={"X-Request-ID": "req-audit-1"}
    ):
        page = medical_records_page(doctor_user, visit.patient_id, limit=2)
        medical_records_page(doctor_user, visit.patient_id, limit=2, cursor=page.next_cursor)
    first, second = audit_rows(visit.patient_id)
    assert first.actor_id == doctor_user.id and first.actor_role == "doctor"
    assert first.patient_id == visit.patient_id
    assert first.action == "records.read"
    assert first.record_ids == [entry.record.id for entry in page.items]
    assert sorted(first.record_ids + second.record_ids) == sorted(r.id for r in records)
    assert first.address == "203.0.113.7" and first.request_id == "req-audit-1"
    assert first.at is not None


def test_an_empty_page_is_audited_too(visit):
    medical_records_page(user_of(visit.patient), visit.patient_id)
    (row,) = audit_rows()
    assert row.record_ids == [] and row.actor_role == "patient"


@pytest.fixture
def role_without_audit_insert(app_ctx):
    """A database role that may read every table but may not INSERT into audit_log."""
    statements = [
        f"DO $$ BEGIN CREATE ROLE {NO_AUDIT_ROLE}; "
        "EXCEPTION WHEN duplicate_object THEN NULL; END $$",
        f"GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO {NO_AUDIT_ROLE}",
        f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {NO_AUDIT_ROLE}",
        f"REVOKE INSERT ON audit_log FROM {NO_AUDIT_ROLE}",
    ]
    with db.engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))
    yield NO_AUDIT_ROLE
    db.session.rollback()
    with db.engine.begin() as conn:
        conn.execute(text(f"DROP OWNED BY {NO_AUDIT_ROLE}"))
        conn.execute(text(f"DROP ROLE {NO_AUDIT_ROLE}"))


def test_when_the_audit_insert_fails_the_read_fails_and_returns_no_data(
    visit, role_without_audit_insert
):
    gen_records(visit, 3)
    reader = user_of(visit.patient)
    patient_id = visit.patient_id
    # The read runs as a role that may SELECT the records but not INSERT the audit row.
    db.session.execute(text(f"SET LOCAL ROLE {role_without_audit_insert}"))
    returned = None
    with pytest.raises(AuditFailed) as failure:
        returned = medical_records_page(reader, patient_id)
    assert returned is None
    assert "permission denied" in str(failure.value.__cause__)
    assert db.session.scalar(text("SELECT current_user")) == "postgres"  # rolled back
    assert audit_rows() == []


def test_a_record_write_and_its_audit_row_commit_together_or_not_at_all(visit):
    doctor_user = user_of(visit.doctor)
    record = MedicalRecord(
        patient_id=visit.patient_id,
        doctor_id=visit.doctor_id,
        appointment_id=visit.id,
        record_type="consultation",
        diagnosis="Written now",
    )
    db.session.add(record)
    db.session.flush()
    audit_record_write(doctor_user, visit.patient_id, [record.id])
    db.session.rollback()
    assert audit_rows() == [] and db.session.get(MedicalRecord, record.id) is None

    record = MedicalRecord(
        patient_id=visit.patient_id,
        doctor_id=visit.doctor_id,
        record_type="consultation",
        diagnosis="Written again",
    )
    db.session.add(record)
    db.session.flush()
    audit_id = audit_record_write(doctor_user, visit.patient_id, [record.id])
    db.session.commit()
    (saved,) = audit_rows()
    assert saved.id == audit_id and saved.action == WRITE and saved.record_ids == [record.id]
    assert saved.actor_role == "doctor" and saved.address is None  # written outside a request


def test_an_audit_write_that_fails_rolls_back_the_record_it_audits(visit):
    doctor_user = user_of(visit.doctor)
    record = MedicalRecord(
        patient_id=visit.patient_id, doctor_id=visit.doctor_id, record_type="consultation"
    )
    db.session.add(record)
    db.session.flush()
    record_id = record.id
    with pytest.raises(AuditFailed):
        # A patient id that does not exist violates audit_log's foreign key.
        audit_record_write(doctor_user, 10**9, [record_id])
    assert db.session.get(MedicalRecord, record_id) is None
    assert audit_rows() == []


# Query plans over a few thousand records.


@pytest.fixture
def thousands_of_records(app_ctx):
    """3,000 records of one patient among 9,000 of 60 patients, 300 doctors in 30 clinics."""
    doctor_ids = []
    for n in range(30):
        clinic = gen_clinic(timezone="Europe/Berlin" if n % 2 else "America/New_York")
        doctor_ids += gen_bulk_doctors(clinic, 10)
    patient_ids = gen_bulk_patients(60)
    heavy = patient_ids[0]
    gen_bulk_records([heavy], doctor_ids, 3000, NOW)
    gen_bulk_records(patient_ids[1:], doctor_ids, 6000, NOW, step_minutes=31)
    db.session.execute(text("ANALYZE medical_records, doctors, clinics, patients, users"))
    db.session.commit()
    return db.session.scalar(
        select(User).join(Patient, Patient.user_id == User.id).where(Patient.id == heavy)
    )


def test_records_pages_are_an_index_walk_with_no_sort_and_no_seq_scan(thousands_of_records):
    reader = thousands_of_records
    patient_id = reader.patient.id
    first_page = medical_records_page(reader, patient_id, limit=20)
    deeper = medical_records_page(reader, patient_id, limit=20, cursor=first_page.next_cursor)
    for cursor in (None, deeper.next_cursor):
        statement = captured_select(
            lambda cursor=cursor: medical_records_page(reader, patient_id, limit=20, cursor=cursor)
        )
        nodes = plan_nodes(*statement)
        kinds = [node["Node Type"] for node in nodes]
        walks = [n for n in nodes if n.get("Index Name") == "ix_medical_records_patient_created"]
        assert walks and walks[0]["Node Type"] == "Index Scan", kinds
        assert "Seq Scan" not in kinds, kinds
        assert not any("Sort" in kind for kind in kinds), kinds
        if cursor:
            assert "ROW(created_at, id) <" in walks[0]["Index Cond"]


def test_type_filtered_records_walk_the_type_index_and_sort_only_ties_of_created_at(
    thousands_of_records,
):
    # ix_medical_records_patient_type_created has no id column (DESIGN.md), so PostgreSQL
    # orders the rows of equal created_at by id in an Incremental Sort over the index walk: it
    # never sorts the patient's records as a whole. With `id DESC` added to that index this
    # Incremental Sort would go too.
    reader = thousands_of_records
    statement = captured_select(
        lambda: medical_records_page(reader, reader.patient.id, limit=20, record_type="imaging")
    )
    nodes = plan_nodes(*statement)
    kinds = [node["Node Type"] for node in nodes]
    walks = [n for n in nodes if n.get("Index Name") == "ix_medical_records_patient_type_created"]
    assert walks and walks[0]["Node Type"] == "Index Scan", kinds
    assert "Seq Scan" not in kinds and "Sort" not in kinds, kinds
    for node in nodes:
        if node["Node Type"] == "Incremental Sort":
            assert node["Presorted Key"] == ["medical_records.created_at"]
