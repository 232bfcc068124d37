"""Every route, every role, own object and someone else's: the status each one gets.

The table below has one entry per (endpoint, method) of app.url_map. A route added without an
entry fails test_every_route_has_an_entry, so authorization is decided for it on purpose.

Each row gives, per role, either one status (routes without an object in their URL) or a pair
(own object, someone else's object). "Own" is the world of the signed-in user: patient P, her
visit with doctor A of clinic A, its record, doctor A's rules and time off, clinic A's admin.
"Other" is the same set in clinic B with patient Q and doctor B. A third request asks for an
object that does not exist (404) as the role that could otherwise reach it. Each role meets a
fresh world after any request that changed something, so each answer is an untouched world's.

Portal pages sign in with the sign-in form (a session cookie); /api routes send a Bearer access
token of the same user. Statuses: 200 page or JSON; 201 created; 204 done, nothing to show;
302 sign in first (anonymous) or go to your own first page; 303 done, see the next page; 400 a
request without what it needs; 401 no access token (API); 403 not allowed; 404 missing; 409
the object's state refuses it; 422 form or body errors (allowed, but the input was not enough).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from itertools import count
from zoneinfo import ZoneInfo

import pytest
from flask import url_for

from portal.extensions import db
from portal.models import User
from portal.services.tokens import issue_access_token
from tests.conftest import AuthActions, csrf_token_from
from tests.factories import (
    gen_admin,
    gen_appointment,
    gen_clinic,
    gen_doctor,
    gen_patient,
    gen_record,
    gen_schedule,
    gen_time_off,
)

ROLES = ("anonymous", "patient", "doctor", "clinic_admin")
ZONE = ZoneInfo("America/New_York")
MISSING_ID = 999_999
Status = int | tuple[int, int]
World = dict[str, dict[str, int]]


@dataclass(frozen=True)
class Row:
    """Expected statuses by role: an int, or (own object, someone else's object)."""

    anonymous: Status
    patient: Status
    doctor: Status
    clinic_admin: Status
    # The role that may reach the object, asked for one that does not exist: 404.
    missing_as: str | None = None
    # A valid form or JSON body, built from the world's ids when it needs them.
    data: dict | Callable[[World], dict] | None = None

    def body(self, world: World) -> dict:
        return self.data(world) if callable(self.data) else dict(self.data or {})


def local_day(days_ahead: int) -> str:
    return (datetime.now(ZONE).date() + timedelta(days=days_ahead)).isoformat()


def local_instant(days_ahead: int, hour: int) -> str:
    day = datetime.now(ZONE).date() + timedelta(days=days_ahead)
    return datetime.combine(day, time(hour), tzinfo=ZONE).astimezone(UTC).isoformat()


RULE = {
    "weekday": "0",
    "start_time": "18:00",
    "end_time": "20:00",
    "slot_minutes": "30",
    "valid_from": "2026-01-05",
}
EDITED_RULE = {**RULE, "start_time": "08:00", "end_time": "08:30", "valid_from": "2020-01-01"}
RECORD = {"record_type": "consultation", "diagnosis": "Common cold"}
NEW_DOCTOR = {
    "full_name": "Dr. New Person",
    "email": "new.doctor@example.com",
    "specialization": "Neurology",
    "consultation_fee": "80",
    "password": "a-long-secret-42",
}
TIME_OFF = {"starts_at": f"{local_day(10)}T09:00", "ends_at": f"{local_day(10)}T10:00"}
SEARCH = {"specialization": "Cardiology", "city": "New York"}


def booking(world: World) -> dict:
    return {
        "doctor_id": world["doctor_id"]["own"],
        "starts_at": local_instant(4, 11),
        "kind": "in_person",
        "reason": "Check-up",
    }


PUBLIC = Row(200, 200, 200, 200)
PATIENT_PAGE = Row(302, 200, 403, 403)
DOCTOR_PAGE = Row(302, 403, 200, 403)
ADMIN_PAGE = Row(302, 403, 403, 200)


def own_doctor_page(own: int) -> Row:
    return Row((302, 302), (403, 403), (own, 403), (403, 403), missing_as="doctor")


def own_admin_page(own: int, **kwargs) -> Row:
    return Row((302, 302), (403, 403), (403, 403), (own, 403), missing_as="clinic_admin", **kwargs)


# (endpoint, method) → expected statuses. Patients' pages, sign-in and the API belong to other
# issues: their statuses here are what their views answer, read from those views.
TABLE: dict[tuple[str, str], Row] = {
    # Public and sign-in.
    ("main.index", "GET"): Row(200, 302, 302, 302),
    ("health.healthz", "GET"): PUBLIC,
    ("health.readyz", "GET"): PUBLIC,
    ("static", "GET"): PUBLIC,
    ("auth.login", "GET"): Row(200, 302, 302, 302),
    ("auth.login", "POST"): Row(422, 302, 302, 302),
    ("auth.register", "GET"): Row(200, 302, 302, 302),
    ("auth.register", "POST"): Row(422, 302, 302, 302),
    ("auth.logout", "POST"): Row(303, 303, 303, 303),
    # Every signed-in user, their own password only (the form has no user id to point elsewhere).
    ("auth.change_password_page", "GET"): Row(302, 200, 200, 200),
    ("auth.change_password_page", "POST"): Row(302, 422, 422, 422),
    # Patients (issue 3): only their own visits and records.
    ("patients.home", "GET"): PATIENT_PAGE,
    ("patients.search", "GET"): PATIENT_PAGE,
    # Any doctor's free times are for every patient to see.
    ("patients.doctor", "GET"): Row(
        (302, 302), (200, 200), (403, 403), (403, 403), missing_as="patient"
    ),
    ("patients.book", "GET"): Row(302, 400, 403, 403),
    ("patients.book", "POST"): Row(302, 400, 403, 403),
    ("patients.cancel", "POST"): Row(
        (302, 302), (303, 403), (403, 403), (403, 403), missing_as="patient"
    ),
    ("patients.reschedule", "GET"): Row(
        (302, 302), (200, 403), (403, 403), (403, 403), missing_as="patient"
    ),
    ("patients.reschedule", "POST"): Row(
        (302, 302), (422, 403), (403, 403), (403, 403), missing_as="patient"
    ),
    ("history.appointments", "GET"): PATIENT_PAGE,
    ("history.records", "GET"): PATIENT_PAGE,
    # Doctors: their own day and visits, and the patients they have visits with.
    ("doctors.today", "GET"): DOCTOR_PAGE,
    ("doctors.visit_status", "POST"): own_doctor_page(303),
    ("doctors.visit_record", "GET"): own_doctor_page(200),
    ("doctors.visit_record", "POST"): Row(
        (302, 302), (403, 403), (303, 403), (403, 403), missing_as="doctor", data=RECORD
    ),
    ("doctors.amend", "GET"): own_doctor_page(200),
    ("doctors.amend", "POST"): Row(
        (302, 302), (403, 403), (303, 403), (403, 403), missing_as="doctor", data=RECORD
    ),
    ("doctors.patient_history", "GET"): own_doctor_page(200),
    ("doctors.patient_records", "GET"): own_doctor_page(200),
    # Clinic admins: their own clinic's doctors, rules, time off, calendar and visits; never
    # a clinical record.
    ("clinics.home", "GET"): ADMIN_PAGE,
    ("clinics.calendar", "GET"): ADMIN_PAGE,
    ("clinics.new_doctor", "GET"): ADMIN_PAGE,
    ("clinics.new_doctor", "POST"): Row(302, 403, 403, 303, data=NEW_DOCTOR),
    ("clinics.deactivate", "POST"): own_admin_page(303),
    ("clinics.rules", "GET"): own_admin_page(200),
    ("clinics.rules", "POST"): own_admin_page(303, data=RULE),
    ("clinics.edit_rule", "GET"): own_admin_page(200),
    ("clinics.edit_rule", "POST"): own_admin_page(303, data=EDITED_RULE),
    ("clinics.remove_rule", "POST"): own_admin_page(303),
    ("clinics.time_off", "GET"): own_admin_page(200),
    ("clinics.time_off", "POST"): own_admin_page(303, data=TIME_OFF),
    ("clinics.remove_time_off", "POST"): own_admin_page(303),
    ("clinics.visit", "GET"): own_admin_page(200),
    ("clinics.cancel", "POST"): own_admin_page(303),
    # The JSON API (issue 5): Bearer tokens, 401 without one.
    ("api.openapi", "GET"): PUBLIC,
    ("api.list_specializations", "GET"): PUBLIC,
    ("api.list_clinics", "GET"): PUBLIC,
    ("api.register", "POST"): Row(422, 422, 422, 422),
    ("api.login", "POST"): Row(422, 422, 422, 422),
    ("api.refresh", "POST"): Row(422, 422, 422, 422),
    ("api.logout", "POST"): Row(422, 422, 422, 422),
    ("api.search", "GET"): Row(401, 200, 200, 200, data=SEARCH),
    ("api.book", "POST"): Row(401, 201, 403, 403, data=booking),
    ("api.cancel", "POST"): Row(
        (401, 401), (200, 403), (200, 403), (200, 403), missing_as="patient"
    ),
    ("api.video_token", "POST"): Row(
        (401, 401), (409, 403), (409, 403), (403, 403), missing_as="patient"
    ),
    ("api.schedule", "GET"): Row(
        (401, 401), (403, 403), (200, 403), (200, 403), missing_as="doctor"
    ),
    ("api.appointments", "GET"): Row(
        (401, 401), (200, 403), (200, 403), (403, 403), missing_as="patient"
    ),
    ("api.medical_records", "GET"): Row(
        (401, 401), (200, 403), (200, 403), (403, 403), missing_as="patient"
    ),
}

# URL arguments that are not objects: one fixed, valid value each.
FIXED_ARGUMENTS = {"action": "check-in", "filename": "app.css"}
_worlds = count(1)


def build_world() -> tuple[World, dict[str, str]]:
    """Two clinics, each with a doctor, an admin, a patient, a visit, a record, rules, time off.

    Returns, for each URL argument name, the ids of the "own" and the "other" object, and the
    sign-in email of each role in the own world.
    """
    n = next(_worlds)
    ids: World = {}
    emails: dict[str, str] = {}
    for side in ("own", "other"):
        clinic = gen_clinic(timezone="America/New_York")
        doctor = gen_doctor(clinic, email=f"doctor-{side}-{n}@example.com")
        rules = gen_schedule(doctor, weekdays=range(7), start=time(9), end=time(17), slot=30)
        admin = gen_admin(clinic, email=f"admin-{side}-{n}@example.com")
        patient = gen_patient(email=f"patient-{side}-{n}@example.com")
        start = datetime.combine(
            datetime.now(ZONE).date() + timedelta(days=3), time(10), tzinfo=ZONE
        ).astimezone(UTC)
        visit = gen_appointment(patient, doctor, start, kind="video")
        record = gen_record(visit)
        off = gen_time_off(doctor, start + timedelta(days=20), start + timedelta(days=20, hours=2))
        for name, row_id in (
            ("appointment_id", visit.id),
            ("doctor_id", doctor.id),
            ("patient_id", patient.id),
            ("record_id", record.id),
            ("rule_id", rules[0].id),
            ("time_off_id", off.id),
        ):
            ids.setdefault(name, {})[side] = row_id
        if side == "own":
            emails = {
                "patient": patient.user.email,
                "doctor": doctor.user.email,
                "clinic_admin": admin.email,
            }
    return ids, emails


class Visitor:
    """One role's client: a portal session signed in on first use, and an API access token."""

    def __init__(self, app, role: str, emails: dict[str, str]):
        self.app, self.role, self.emails = app, role, emails
        self.client = app.test_client()
        self.csrf: str | None = None
        self.bearer: dict[str, str] = {}
        if role != "anonymous":
            with app.app_context():
                user = db.session.scalar(db.select(User).where(User.email == emails[role]))
                self.bearer = {"Authorization": f"Bearer {issue_access_token(user)}"}

    def portal(self):
        """The test client, signed in through the sign-in form the first time it is needed."""
        if self.csrf is None:
            if self.role != "anonymous":
                AuthActions(self.client).login(self.emails[self.role])
            page = self.client.get("/login", follow_redirects=True)
            self.csrf = csrf_token_from(page.get_data(as_text=True))
        return self.client


def rule_for(app, endpoint: str, method: str):
    [rule] = [r for r in app.url_map.iter_rules() if r.endpoint == endpoint and method in r.methods]
    return rule


def object_arguments(rule) -> list[str]:
    return sorted(set(rule.arguments) - set(FIXED_ARGUMENTS))


def url(app, rule, side: str, world: World) -> str:
    """The route's URL for the own, the other or a missing object."""
    values = {name: FIXED_ARGUMENTS[name] for name in rule.arguments if name in FIXED_ARGUMENTS}
    for name in object_arguments(rule):
        values[name] = MISSING_ID if side == "missing" else world[name][side]
    with app.test_request_context():
        return url_for(rule.endpoint, **values)


def ask(who: Visitor, method: str, path: str, body: dict):
    """One request the way its kind of client sends it: a form, or JSON with a Bearer token."""
    if path.startswith("/api/"):
        if method == "GET":
            return who.client.get(path, query_string=body, headers=who.bearer)
        return who.client.post(path, json=body, headers=who.bearer)
    client = who.portal()
    if method == "GET":
        return client.get(path, query_string=body)
    return client.post(path, data={"csrf_token": who.csrf, **body})


def test_every_route_has_an_entry(app):
    routes = {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert routes - set(TABLE) == set(), "routes without an authorization entry"
    assert set(TABLE) - routes == set(), "entries for routes that do not exist"


def answers(app, row: Row, rule, method: str, role: str, world: World, who: Visitor):
    """Ask one route as one role; the differences from the table, and whether it changed data."""
    expected = getattr(row, role)
    body = row.body(world)
    if not object_arguments(rule):
        assert isinstance(expected, int), "a route without objects has one status per role"
        asked = [("", expected, "own")]
    else:
        own, other = expected
        # Someone else's first: the own request may change the world (deactivate, cancel).
        asked = [("someone else's object", other, "other")]
        if role == row.missing_as:
            asked.append(("a missing object", 404, "missing"))
        asked.append(("own object", own, "own"))
    wrong, changed = [], False
    for what, status, side in asked:
        response = ask(who, method, url(app, rule, side, world), body)
        if response.status_code != status:
            wrong.append(
                f"{rule.endpoint} {method} as {role}, {what or 'no object'}: "
                f"{response.status_code}, the table says {status}"
            )
        changed |= method == "POST" and response.status_code in (200, 201, 204, 303)
    return wrong, changed


@pytest.mark.parametrize("role", ROLES)
def test_every_route_answers_the_role_as_the_table_says(app, role):
    """All routes for one role. A fresh world (and sign-in) follows any request that changed
    something, so each answer is the one an untouched world gives; portal pages come first,
    then the API, which needs no sign-in form."""
    wrong: list[str] = []
    world = who = None
    for endpoint, method in sorted(TABLE, key=lambda key: key[0].startswith("api.")):
        if world is None:
            world, emails = build_world()
            who = Visitor(app, role, emails)
        rule = rule_for(app, endpoint, method)
        found, changed = answers(app, TABLE[(endpoint, method)], rule, method, role, world, who)
        wrong += found
        if changed:
            world = None
    assert wrong == []
