"""A doctor's view of a patient's history and records: only patients they have a visit with."""

from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditLog
from tests.doctors.conftest import hours_from_now
from tests.factories import gen_appointment, gen_doctor, gen_patient, gen_record


def test_a_doctor_sees_the_history_of_a_patient_they_have_a_visit_with(doctor_client, doctor, app):
    patient = gen_patient(full_name="Rosalind Franklin")
    gen_appointment(patient, doctor, hours_from_now(-48), reason="Follow-up of cough")
    elsewhere = gen_doctor(doctor.clinic, full_name="Dr. Other Person")
    gen_appointment(patient, elsewhere, hours_from_now(-24 * 30), reason="Knee")
    page = doctor_client.get(f"/doctor/patients/{patient.id}/history")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Rosalind Franklin" in html and "Follow-up of cough" in html
    assert "Dr. Other Person" in html  # the whole history, not only this doctor's visits


def test_reading_a_patients_records_leaves_an_audit_row(doctor_client, doctor, app):
    patient = gen_patient()
    record = gen_record(gen_appointment(patient, doctor, hours_from_now(-48)), diagnosis="Asthma")
    page = doctor_client.get(f"/doctor/patients/{patient.id}/records")
    assert page.status_code == 200 and "Asthma" in page.get_data(as_text=True)
    with app.app_context():
        [row] = db.session.scalars(select(AuditLog)).all()
        assert (row.action, row.patient_id, row.record_ids) == (
            "records.read",
            patient.id,
            [record.id],
        )
        assert row.actor_id == doctor.user_id and row.actor_role == "doctor"


def test_a_patient_without_a_visit_with_this_doctor_is_refused(doctor_client, doctor, app):
    stranger = gen_patient()
    gen_record(gen_appointment(stranger, gen_doctor(doctor.clinic), hours_from_now(-48)))
    assert doctor_client.get(f"/doctor/patients/{stranger.id}/history").status_code == 403
    assert doctor_client.get(f"/doctor/patients/{stranger.id}/records").status_code == 403
    assert doctor_client.get("/doctor/patients/999999/history").status_code == 404
    with app.app_context():
        assert db.session.scalars(select(AuditLog)).all() == []
