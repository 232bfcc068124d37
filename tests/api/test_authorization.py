"""Every API endpoint, for each role, on its own object and on someone else's: the status.

"Own" is patient P's world: P, P's video visit with doctor A of clinic A, doctor A, admin A.
"Other" is patient Q's: Q, Q's visit with doctor B of clinic B, doctor B, admin B. Each row
also asks for an id that does not exist (404 for whoever may use the endpoint at all), and
without a token (401 where one is needed).
"""

from dataclasses import dataclass

import pytest

from portal.extensions import db
from portal.models import Appointment
from tests.api.conftest import World, in_days
from tests.factories import gen_appointment

ROLES = ("patient", "doctor", "clinic_admin")
MISSING = 987654


@dataclass(frozen=True)
class Row:
    """One endpoint: its request, and per role the (own, other) statuses."""

    method: str
    path: str  # {id} is replaced by the object's id
    expected: dict[str, tuple[int, int]]
    anonymous: int = 401
    missing: int | None = 404  # for a role that may use the endpoint
    json: dict | None = None


TABLE = {
    "history": Row(
        "GET",
        "/api/patients/{id}/appointments",
        {"patient": (200, 403), "doctor": (200, 403), "clinic_admin": (403, 403)},
    ),
    "records": Row(
        "GET",
        "/api/patients/{id}/medical-records",
        {"patient": (200, 403), "doctor": (200, 403), "clinic_admin": (403, 403)},
    ),
    "schedule": Row(
        "GET",
        "/api/doctors/{id}/schedule",
        {"patient": (403, 403), "doctor": (200, 403), "clinic_admin": (200, 403)},
    ),
    "cancel": Row(
        "POST",
        "/api/appointments/{id}/cancel",
        {"patient": (200, 403), "doctor": (200, 403), "clinic_admin": (200, 403)},
    ),  # a cancellation changes its visit: each ask gets a new one (object_id)
    "video_token": Row(
        "POST",
        "/api/appointments/{id}/video-token",
        {"patient": (200, 403), "doctor": (200, 403), "clinic_admin": (403, 403)},
    ),
    "book": Row(
        "POST",
        "/api/appointments",
        {"patient": (201, 201), "doctor": (403, 403), "clinic_admin": (403, 403)},
        missing=None,
    ),
    "search": Row(
        "GET",
        "/api/appointments/search?specialization=Cardiology&city=New%20York",
        {role: (200, 200) for role in ROLES},
        missing=None,
    ),
    "specializations": Row(
        "GET", "/api/specializations", {role: (200, 200) for role in ROLES}, 200, None
    ),
    "clinics": Row("GET", "/api/clinics", {role: (200, 200) for role in ROLES}, 200, None),
}


def object_id(name: str, world: World, app, own: bool) -> int:
    """The id in the URL: P's or Q's patient, doctor, or visit."""
    if name in ("history", "records"):
        return (world.patient_p if own else world.patient_q).id
    if name == "schedule":
        return (world.doctor_a if own else world.doctor_b).id
    if name == "cancel":
        patient, doctor = (
            (world.patient_p, world.doctor_a) if own else (world.patient_q, world.doctor_b)
        )
        with app.app_context():
            return gen_appointment(patient, doctor, in_days(10 + next(_days), hour=14)).id
    return (world.visit_p if own else world.visit_q).id


_days = iter(range(1000))


def booking_body(world: World, app) -> dict:
    """A free slot of doctor A (each call a different day, so every booking can succeed)."""
    return {"doctor_id": world.doctor_a.id, "starts_at": in_days(20 + next(_days)).isoformat()}


@pytest.mark.parametrize("name", TABLE)
def test_each_role_gets_the_tables_status_on_its_own_and_on_others_objects(name, api, app, world):
    row = TABLE[name]
    differences = []

    def ask(user_id, object_ref):
        path = row.path.replace("{id}", str(object_ref))
        body = booking_body(world, app) if name == "book" else row.json
        if row.method == "POST":
            return api.post(path, user=user_id, json=body).status_code
        return api.get(path, user=user_id).status_code

    for role in ROLES:
        for own, expected in zip((True, False), row.expected[role], strict=True):
            user_id = world.user(role, own=True)
            target = object_id(name, world, app, own)
            status = ask(user_id, target)
            if status != expected:
                differences.append(f"{role} on {'own' if own else 'other'}: {status} != {expected}")
        may_use = any(status in (200, 201) for status in row.expected[role])
        if row.missing is not None and may_use:
            status = ask(world.user(role), MISSING)
            if status != row.missing:
                differences.append(f"{role} on a missing id: {status} != {row.missing}")
    anonymous = (
        api.post(row.path.replace("{id}", "1"), json=row.json or {})
        if row.method == "POST"
        else api.get(row.path.replace("{id}", "1"))
    ).status_code
    if anonymous != row.anonymous:
        differences.append(f"anonymous: {anonymous} != {row.anonymous}")
    assert differences == []


def test_every_api_endpoint_has_a_row(app):
    """Sign-in and its kin act on no object; test_auth.py covers them."""
    table = {(row.method, row.path.split("?")[0].replace("{id}", "")) for row in TABLE.values()}
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api.") and not (
            rule.endpoint == "api.openapi" or str(rule).startswith("/api/auth/")
        ):
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                path = str(rule)
                for converter in ("<int:patient_id>", "<int:doctor_id>", "<int:appointment_id>"):
                    path = path.replace(converter, "")
                routes.add((method, path))
    assert routes == table


def test_someone_elses_visit_is_not_cancelled_by_a_refused_request(api, app, world):
    response = api.post(f"/api/appointments/{world.visit_q.id}/cancel", user=world.user("patient"))
    assert response.status_code == 403
    with app.app_context():
        assert db.session.get(Appointment, world.visit_q.id).status == "scheduled"
