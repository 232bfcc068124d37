"""Writing medical records from a visit: tied to it, amended by new versions, always audited."""

from sqlalchemy import func, select, text

from portal.extensions import db
from portal.models import AuditLog, MedicalRecord
from tests.conftest import csrf_token_from
from tests.doctors.conftest import hours_from_now
from tests.factories import gen_admin, gen_appointment, gen_doctor, gen_patient, gen_record


def record_page(client, visit):
    return client.get(f"/doctor/appointments/{visit.id}/record")


def post_record(client, visit, **fields):
    token = csrf_token_from(record_page(client, visit).get_data(as_text=True))
    data = {"csrf_token": token, "record_type": "consultation", **fields}
    return client.post(f"/doctor/appointments/{visit.id}/record", data=data)


def records_of(app, patient_id: int) -> list[MedicalRecord]:
    with app.app_context():
        query = select(MedicalRecord).where(MedicalRecord.patient_id == patient_id)
        return list(db.session.scalars(query.order_by(MedicalRecord.id)))


def audit_rows(app, action: str | None = None) -> list[AuditLog]:
    with app.app_context():
        query = select(AuditLog).order_by(AuditLog.id)
        if action:
            query = query.where(AuditLog.action == action)
        return list(db.session.scalars(query))


def test_a_record_is_tied_to_the_visit_and_its_patient_and_audited(doctor_client, doctor, app):
    patient = gen_patient()
    visit = gen_appointment(patient, doctor, hours_from_now(-1))
    response = post_record(
        doctor_client,
        visit,
        record_type="diagnosis",
        diagnosis="Acute bronchitis",
        prescription="Rest, fluids",
        systolic_mmhg="125",
        diastolic_mmhg="82",
        pulse_bpm="74",
        temperature_c="37.9",
        weight_kg="",
    )
    assert response.status_code == 303
    [record] = records_of(app, patient.id)
    assert (record.appointment_id, record.doctor_id) == (visit.id, doctor.id)
    assert record.record_type == "diagnosis" and record.diagnosis == "Acute bronchitis"
    assert record.data == {"blood_pressure": "125/82", "pulse_bpm": 74, "temperature_c": 37.9}
    [audit] = audit_rows(app, "records.write")
    assert audit.patient_id == patient.id and audit.record_ids == [record.id]
    assert audit.actor_role == "doctor" and audit.request_id


def test_the_visit_page_shows_its_records_and_audits_that_read(doctor_client, doctor, app):
    visit = gen_appointment(gen_patient(), doctor, hours_from_now(-1))
    record = gen_record(visit, diagnosis="Sprained ankle")
    html = record_page(doctor_client, visit).get_data(as_text=True)
    assert "Sprained ankle" in html and f"/doctor/records/{record.id}/amend" in html
    [read] = audit_rows(app, "records.read")
    assert read.record_ids == [record.id]


def test_an_amendment_is_a_new_version_and_the_old_one_stays(doctor_client, doctor, app):
    patient = gen_patient()
    visit = gen_appointment(patient, doctor, hours_from_now(-1))
    old = gen_record(visit, diagnosis="Migraine", data={"pulse_bpm": 70})
    form = doctor_client.get(f"/doctor/records/{old.id}/amend")
    html = form.get_data(as_text=True)
    assert form.status_code == 200 and "Migraine" in html and 'value="70"' in html
    response = doctor_client.post(
        f"/doctor/records/{old.id}/amend",
        data={
            "csrf_token": csrf_token_from(html),
            "record_type": "diagnosis",
            "diagnosis": "Tension headache",
            "pulse_bpm": "70",
        },
    )
    assert response.status_code == 303
    first, second = records_of(app, patient.id)
    assert (first.id, first.diagnosis, first.supersedes_id) == (old.id, "Migraine", None)
    assert second.supersedes_id == old.id and second.diagnosis == "Tension headache"
    assert second.appointment_id == visit.id
    [amend] = audit_rows(app, "records.amend")
    assert amend.record_ids == [second.id, old.id]
    # The superseded version cannot be amended a second time: only the newest can.
    again = doctor_client.post(
        f"/doctor/records/{old.id}/amend",
        data={"csrf_token": csrf_token_from(html), "record_type": "diagnosis", "diagnosis": "X"},
    )
    assert again.status_code == 422 and "amended already" in again.get_data(as_text=True)
    assert len(records_of(app, patient.id)) == 2


def test_a_record_on_someone_elses_visit_is_refused_and_nothing_is_written(
    doctor_client, doctor, app
):
    patient = gen_patient()
    theirs = gen_appointment(patient, gen_doctor(doctor.clinic), hours_from_now(-1))
    token = csrf_token_from(doctor_client.get("/doctor/").get_data(as_text=True))
    response = doctor_client.post(
        f"/doctor/appointments/{theirs.id}/record",
        data={"csrf_token": token, "record_type": "consultation", "diagnosis": "Mine now"},
    )
    assert response.status_code == 403
    assert doctor_client.get(f"/doctor/appointments/{theirs.id}/record").status_code == 403
    assert records_of(app, patient.id) == [] and audit_rows(app) == []


def test_a_colleagues_record_cannot_be_amended(doctor_client, doctor, app):
    patient = gen_patient()
    colleague = gen_doctor(doctor.clinic)
    gen_appointment(patient, doctor, hours_from_now(-3))
    record = gen_record(gen_appointment(patient, colleague, hours_from_now(-1)))
    assert doctor_client.get(f"/doctor/records/{record.id}/amend").status_code == 403
    assert doctor_client.get("/doctor/records/999999/amend").status_code == 404
    assert audit_rows(app) == []


def test_a_cancelled_visit_takes_no_record(doctor_client, doctor, app):
    patient = gen_patient()
    visit = gen_appointment(patient, doctor, hours_from_now(-1), status="cancelled")
    assert "cancelled: there is nothing to record" in record_page(doctor_client, visit).get_data(
        as_text=True
    )
    token = csrf_token_from(doctor_client.get("/doctor/").get_data(as_text=True))
    response = doctor_client.post(
        f"/doctor/appointments/{visit.id}/record",
        data={"csrf_token": token, "record_type": "consultation", "diagnosis": "Flu"},
    )
    assert response.status_code == 422
    assert records_of(app, patient.id) == []


def test_bad_record_input_gets_messages_and_writes_nothing(doctor_client, doctor, app):
    patient = gen_patient()
    visit = gen_appointment(patient, doctor, hours_from_now(-1))
    cases = [
        ({}, "An empty record says nothing"),
        ({"record_type": "horoscope", "diagnosis": "x"}, "Choose a record type"),
        ({"pulse_bpm": "900"}, "between 20 and 250"),
        ({"pulse_bpm": "fast"}, "Not a valid integer"),
        ({"systolic_mmhg": "120"}, "both blood pressure values"),
        ({"systolic_mmhg": "80", "diastolic_mmhg": "120"}, "below systolic"),
        ({"diagnosis": "x" * 5001}, "5000"),
    ]
    for fields, message in cases:
        response = post_record(doctor_client, visit, **fields)
        assert response.status_code == 422, fields
        assert message in response.get_data(as_text=True), fields
    assert records_of(app, patient.id) == []
    assert audit_rows(app, "records.write") == []


def test_a_failed_audit_insert_fails_the_write(doctor_client, doctor, app):
    patient = gen_patient()
    visit = gen_appointment(patient, doctor, hours_from_now(-1))
    token = csrf_token_from(record_page(doctor_client, visit).get_data(as_text=True))
    with app.app_context():
        db.session.execute(
            text(
                "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$ "
                "BEGIN RAISE EXCEPTION 'audit store unavailable'; END $$; "
                "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log "
                "FOR EACH ROW EXECUTE FUNCTION refuse_audit()"
            )
        )
        db.session.commit()
    try:
        response = doctor_client.post(
            f"/doctor/appointments/{visit.id}/record",
            data={"csrf_token": token, "record_type": "consultation", "diagnosis": "Flu"},
        )
    finally:
        with app.app_context():
            db.session.execute(text("DROP TRIGGER refuse_audit ON audit_log"))
            db.session.execute(text("DROP FUNCTION refuse_audit()"))
            db.session.commit()
    assert response.status_code == 503
    assert records_of(app, patient.id) == []


def test_an_admin_never_reaches_record_pages(client, auth, doctor, app):
    admin = gen_admin(doctor.clinic)
    visit = gen_appointment(gen_patient(), doctor, hours_from_now(-1))
    record = gen_record(visit)
    auth.login(admin.email)
    assert client.get(f"/doctor/appointments/{visit.id}/record").status_code == 403
    assert client.get(f"/doctor/records/{record.id}/amend").status_code == 403
    assert client.get(f"/doctor/patients/{visit.patient_id}/records").status_code == 403
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditLog)) == 0
