"""The API's test world and a client that checks every answer against the published contract.

Every response the `api` client gets is checked twice: an error has exactly the shape
{"error": {"code", "message", "fields"}}, and its status is one that /api/openapi.json
documents for that operation. So each test of a status also tests the spec.

Access tokens are signed by the token service directly (no argon2 sign-in per test); the
sign-in itself is tested in test_auth.py.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from werkzeug.exceptions import MethodNotAllowed, NotFound

from portal.extensions import db
from portal.models import Appointment, Clinic, Doctor, MedicalRecord, Patient, User, VideoRoom
from portal.models import utcnow as now_utc
from portal.services.tokens import issue_access_token
from tests.factories import (
    gen_admin,
    gen_appointment,
    gen_clinic,
    gen_doctor,
    gen_patient,
    gen_record,
    gen_schedule,
)


def assert_error_shape(body: dict) -> None:
    """The one error shape of the API, and nothing else."""
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "fields"}, body
    assert isinstance(body["error"]["code"], str) and body["error"]["code"]
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["fields"], dict)
    assert all(isinstance(v, str) for v in body["error"]["fields"].values())


class Api:
    """The Flask test client, with Bearer tokens by user and the contract checked on each answer."""

    def __init__(self, app, client):
        self.app = app
        self.client = client
        self._spec = None

    @property
    def spec(self) -> dict:
        if self._spec is None:
            self._spec = self.client.get("/api/openapi.json").get_json()
        return self._spec

    def token_for(self, user_id: int, **kwargs) -> str:
        with self.app.app_context():
            return issue_access_token(db.session.get(User, user_id), **kwargs)

    def request(self, method: str, path: str, *, user=None, token=None, headers=None, **kwargs):
        headers = dict(headers or {})
        if user is not None:
            token = self.token_for(user if isinstance(user, int) else user.id)
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        response = self.client.open(path, method=method, headers=headers, **kwargs)
        self.check_contract(method, path, response)
        return response

    def get(self, path: str, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs):
        return self.request("POST", path, **kwargs)

    def check_contract(self, method: str, path: str, response) -> None:
        """Errors in the error shape; every status documented for its operation."""
        if response.status_code >= 400:
            assert response.is_json, response.get_data(as_text=True)
            assert_error_shape(response.get_json())
        try:
            rule, _ = self.app.url_map.bind("localhost").match(
                path.split("?")[0], method=method, return_rule=True
            )
        except (NotFound, MethodNotAllowed):
            return  # no operation: the app-wide 404/405, in the error shape (checked above)
        template = str(rule).replace("<int:", "{").replace(">", "}")
        operation = self.spec["paths"][template][method.lower()]
        assert str(response.status_code) in operation["responses"], (
            f"{method} {template} answered {response.status_code}, which the spec does not list"
        )


@pytest.fixture
def api(app, client) -> Api:
    return Api(app, client)


@dataclass
class World:
    """Two clinics, each with a doctor and an admin; patient P treated in A, patient Q in B."""

    clinic_a: Clinic
    clinic_b: Clinic
    doctor_a: Doctor
    doctor_b: Doctor
    admin_a: User
    admin_b: User
    patient_p: Patient
    patient_q: Patient
    visit_p: Appointment  # P with doctor A, in a week: cancellable, video, room ready
    past_visit_p: Appointment  # P with doctor A, completed
    visit_q: Appointment  # Q with doctor B, in a week
    record_p: MedicalRecord
    record_q: MedicalRecord

    def user(self, role: str, own: bool = True) -> int:
        """The user id of a role in P's world (own) or in Q's (other)."""
        if role == "clinic_admin":
            return (self.admin_a if own else self.admin_b).id
        pair = {
            "patient": (self.patient_p, self.patient_q),
            "doctor": (self.doctor_a, self.doctor_b),
        }
        return pair[role][0 if own else 1].user_id


def in_days(days: int, hour: int = 15) -> datetime:
    """A time `days` from now, on the hour (UTC)."""
    return (now_utc() + timedelta(days=days)).replace(hour=hour, minute=0, second=0, microsecond=0)


def gen_video_room(appointment: Appointment, status: str = "ready") -> VideoRoom:
    """The room the jobs make ahead of a video visit (call inside an app context)."""
    room = VideoRoom(
        appointment_id=appointment.id,
        room_name=f"test-appt-{appointment.id}",
        provider_room_id=f"RM{appointment.id:032d}",
        status=status,
        attempts=1,
    )
    db.session.add(room)
    db.session.commit()
    return room


@pytest.fixture
def world(app) -> World:
    with app.app_context():
        clinic_a = gen_clinic(name="Alpha Clinic", city="New York", timezone="America/New_York")
        clinic_b = gen_clinic(name="Beta Clinic", city="Berlin", timezone="Europe/Berlin")
        doctor_a = gen_doctor(clinic_a, full_name="Dr. Ada Alpha")
        doctor_b = gen_doctor(clinic_b, full_name="Dr. Bert Beta", specialization="Dermatology")
        gen_schedule(doctor_a)
        gen_schedule(doctor_b)
        admin_a, admin_b = gen_admin(clinic_a), gen_admin(clinic_b)
        patient_p, patient_q = gen_patient(), gen_patient()
        visit_p = gen_appointment(patient_p, doctor_a, in_days(7), kind="video")
        past_visit_p = gen_appointment(patient_p, doctor_a, in_days(-30), status="completed")
        visit_q = gen_appointment(patient_q, doctor_b, in_days(7, hour=10))
        past_visit_q = gen_appointment(patient_q, doctor_b, in_days(-20), status="completed")
        record_p = gen_record(past_visit_p, diagnosis="P's diagnosis")
        record_q = gen_record(past_visit_q, diagnosis="Q's diagnosis")
        gen_video_room(visit_p)
        return World(
            clinic_a, clinic_b, doctor_a, doctor_b, admin_a, admin_b, patient_p, patient_q,
            visit_p, past_visit_p, visit_q, record_p, record_q,
        )  # fmt: skip
