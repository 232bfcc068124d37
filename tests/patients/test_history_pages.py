"""The patient's history and medical records pages, through the test client."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from flask import Blueprint
from flask_login import current_user, login_required
from sqlalchemy import func, select

from portal import create_app
from portal.config import TestConfig
from portal.extensions import db
from portal.models import AuditLog, Patient
from portal.patients.history import history_response, records_response
from tests.conftest import AuthActions
from tests.factories import (
    gen_admin,
    gen_appointment,
    gen_clinic,
    gen_doctor,
    gen_patient,
    gen_record,
)

SENTINEL = re.compile(
    r'<tr class="sentinel" hx-get="([^"]+)" hx-trigger="revealed" hx-swap="outerHTML">'
)
SHOW_OLDER = re.compile(r'<a href="([^"]+)" hx-get="[^"]+"[^>]*>Show older visits</a>')


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def visit_ids(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr id="visit-(\d+)"', html)]


def record_ids(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr id="record-(\d+)"', html)]


def unescape(url: str) -> str:
    return url.replace("&amp;", "&")


def fragment(client, url: str):
    return client.get(unescape(url), headers={"HX-Request": "true"})


@pytest.fixture
def doctor(app):
    return gen_doctor(gen_clinic(timezone="Europe/Berlin"))


@pytest.fixture
def patient(client, auth):
    patient = gen_patient(email="history@example.com")
    auth.login("history@example.com")
    return patient


def visits_at(patient, doctor, moments, **fields):
    return [gen_appointment(patient, doctor, moment, **fields) for moment in moments]


def test_history_and_records_need_a_signed_in_patient(client, auth, app):
    assert client.get("/patient/history").status_code == 302
    assert client.get("/patient/records").status_code == 302
    gen_doctor(email="doc@example.com")
    auth.login("doc@example.com")
    assert client.get("/patient/history").status_code == 403
    assert client.get("/patient/records").status_code == 403


def test_nav_links_to_history_and_records(client, patient):
    html = client.get("/patient/").get_data(as_text=True)
    assert 'href="/patient/history"' in html and ">History<" in html
    assert 'href="/patient/records"' in html and ">Medical records<" in html


def test_default_view_is_upcoming_soonest_first_then_six_months_newest_first(
    client, patient, doctor
):
    t = now()
    later, sooner = visits_at(patient, doctor, [t + timedelta(days=9), t + timedelta(days=2)])
    recent, less_recent = visits_at(
        patient, doctor, [t - timedelta(days=2), t - timedelta(days=100)]
    )
    (old,) = visits_at(patient, doctor, [t - timedelta(days=300)], status="completed")
    page = client.get("/patient/history")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert visit_ids(html) == [sooner.id, later.id, recent.id, less_recent.id]
    assert old.id not in visit_ids(html)
    assert html.index("Upcoming visits") < html.index("Past visits since")
    assert SHOW_OLDER.search(html)
    assert "HX-Request" in page.headers["Vary"]


def test_recent_visits_arrive_by_revealed_sentinel_rows_then_older_ones_on_request(
    client, patient, doctor
):
    t = now()
    recent = visits_at(patient, doctor, [t - timedelta(hours=5 * n + 1) for n in range(45)])
    older = visits_at(patient, doctor, [t - timedelta(days=200 + n) for n in range(23)])
    html = client.get("/patient/history").get_data(as_text=True)
    seen = visit_ids(html)
    assert len(seen) == 20
    pages = 1
    while match := SENTINEL.search(html):
        response = fragment(client, match.group(1))
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        assert "<html" not in html and "<tbody" not in html  # only the rows block
        seen += visit_ids(html)
        pages += 1
    assert pages == 3
    assert seen == [v.id for v in recent]
    # The recent list ends with "Show older visits"; each click loads one older page.
    clicks = 0
    while match := SHOW_OLDER.search(html):
        html = fragment(client, match.group(1)).get_data(as_text=True)
        assert SENTINEL.search(html) is None  # older pages come on request, not on scroll
        seen += visit_ids(html)
        clicks += 1
    assert clicks == 2 and "That is the whole list." in html
    assert seen == [v.id for v in recent] + [v.id for v in older]
    assert len(seen) == len(set(seen))


def test_show_older_visits_works_when_the_last_six_months_are_empty(client, patient, doctor):
    t = now()
    old = visits_at(patient, doctor, [t - timedelta(days=400 + n) for n in range(3)])
    html = client.get("/patient/history").get_data(as_text=True)
    assert "No visits in the last 6 months." in html and "No upcoming visits." in html
    older = fragment(client, SHOW_OLDER.search(html).group(1)).get_data(as_text=True)
    assert visit_ids(older) == [v.id for v in old]


def test_more_upcoming_visits_come_page_by_page(client, patient, doctor):
    t = now()
    upcoming = visits_at(patient, doctor, [t + timedelta(days=n + 1) for n in range(5)])
    html = client.get("/patient/history", query_string={"limit": 2}).get_data(as_text=True)
    seen = visit_ids(html)
    more = re.compile(r'<a href="([^"]+)" hx-get="[^"]+"[^>]*>Show more upcoming visits</a>')
    while match := more.search(html):
        html = fragment(client, match.group(1)).get_data(as_text=True)
        seen += visit_ids(html)
    assert seen == [v.id for v in upcoming]


def test_filters_show_one_list_of_that_status_and_those_dates(client, patient, doctor):
    t = now()
    cancelled = visits_at(
        patient, doctor, [t - timedelta(days=400), t + timedelta(days=3)], status="cancelled"
    )
    visits_at(patient, doctor, [t - timedelta(days=401), t - timedelta(days=1)], status="completed")
    html = client.get("/patient/history", query_string={"status": "cancelled"}).get_data(
        as_text=True
    )
    assert visit_ids(html) == [cancelled[1].id, cancelled[0].id]
    assert "Visits matching your filters" in html
    day = (t - timedelta(days=400)).astimezone(doctor.clinic.zone).date().isoformat()
    html = client.get(
        "/patient/history", query_string={"from": day, "to": day}, headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert visit_ids(html) == [cancelled[0].id]
    assert "<html" not in html  # the filter form swaps only the results block
    empty = client.get("/patient/history", query_string={"status": "no_show"}).get_data(
        as_text=True
    )
    assert "No visits match these filters." in empty


BAD_INPUT = [
    ({"from": "yesterday"}, "Dates look like"),
    ({"to": "2026-02-30"}, "Dates look like"),
    ({"from": "2026-05-02", "to": "2026-05-01"}, "The end date is before the start date."),
    ({"limit": "0"}, "limit must be a whole number"),
    ({"limit": "-1"}, "limit must be a whole number"),
    ({"limit": str(10**6)}, "limit must be a whole number"),
    ({"limit": "abc"}, "limit must be a whole number"),
    ({"cursor": "tampered"}, "not valid any more"),
    ({"status": "deleted"}, "Choose a status"),
    ({"section": "everything"}, "not valid any more"),
]


@pytest.mark.parametrize(("query", "message"), BAD_INPUT)
def test_bad_input_gets_a_clear_message_400_for_a_page_422_for_a_fragment(
    client, patient, doctor, query, message
):
    page = client.get("/patient/history", query_string=query)
    assert page.status_code == 400
    assert message in page.get_data(as_text=True)
    assert 'role="alert"' in page.get_data(as_text=True)
    part = client.get("/patient/history", query_string=query, headers={"HX-Request": "true"})
    assert part.status_code == 422
    assert message in part.get_data(as_text=True) and "<html" not in part.get_data(as_text=True)


RECORDS_BAD_INPUT = [q for q in BAD_INPUT if not {"status", "section"} & set(q[0])] + [
    ({"record_type": "horoscope"}, "Choose a record type")
]


@pytest.mark.parametrize(("query", "message"), RECORDS_BAD_INPUT)
def test_bad_input_on_records_gets_a_message_reads_nothing_and_is_never_a_500(
    app, client, patient, doctor, query, message
):
    gen_record(gen_appointment(patient, doctor, now() - timedelta(days=1)))
    page = client.get("/patient/records", query_string=query)
    assert page.status_code == 400 and message in page.get_data(as_text=True)
    assert record_ids(page.get_data(as_text=True)) == []
    part = client.get("/patient/records", query_string=query, headers={"HX-Request": "true"})
    assert part.status_code == 422 and message in part.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditLog)) == 0


def test_another_patients_cursor_is_refused(client, auth, patient, doctor):
    t = now()
    visits_at(patient, doctor, [t - timedelta(days=n + 1) for n in range(4)])
    html = client.get("/patient/history", query_string={"limit": 2}).get_data(as_text=True)
    cursor_url = unescape(SENTINEL.search(html).group(1))
    auth.logout()
    gen_patient(email="someone-else@example.com")
    auth.login("someone-else@example.com")
    refused = client.get(cursor_url, headers={"HX-Request": "true"})
    assert refused.status_code == 422
    assert visit_ids(refused.get_data(as_text=True)) == []


def test_times_are_shown_in_the_clinics_zone_with_the_zone_named(client, patient, doctor):
    at = datetime(2027, 1, 15, 15, 0, tzinfo=UTC)  # 16:00 in Berlin, winter time
    gen_appointment(patient, doctor, at)
    html = client.get("/patient/history").get_data(as_text=True)
    assert "Fri 15 Jan 2027, 16:00 CET" in html
    assert "Europe/Berlin" in html


def test_script_and_img_onerror_in_reasons_and_diagnoses_render_inert(client, patient, doctor):
    t = now()
    visit = gen_appointment(
        patient, doctor, t - timedelta(days=1), reason="<script>alert('reason')</script>"
    )
    gen_record(
        visit,
        diagnosis='<img src=x onerror="alert(1)">',
        prescription="<script>alert('rx')</script>",
        data={"<b>key</b>": "<img src=y onerror=alert(2)>"},
    )
    history = client.get("/patient/history").get_data(as_text=True)
    assert "<script>alert" not in history
    assert "&lt;script&gt;alert(&#39;reason&#39;)&lt;/script&gt;" in history
    records = client.get("/patient/records").get_data(as_text=True)
    assert "<img src" not in records and "<script>alert" not in records and "<b>key" not in records
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in records
    assert "&lt;img src=y onerror=alert(2)&gt;" in records


def test_structured_record_details_read_as_facts_and_tables_with_every_level_escaped(
    client, patient, doctor
):
    visit = gen_appointment(patient, doctor, now() - timedelta(days=2))
    gen_record(
        visit,
        data={
            "labs": [
                {"test": "Sodium", "value": 133.58, "unit": "mmol/L", "flag": "low"},
                {"test": "<script>alert('lab')</script>", "value": 4.28},
            ],
            "vitals": {"pulse": 63, "blood_pressure": {"systolic": 114, "diastolic": 71}},
            "smoker": False,
            "allergies": ["penicillin", "<img src=z onerror=alert(3)>"],
            "<i>note</i>": None,
            "deep": {"a": {"b": {"c": {"d": "<b>bold</b>"}}}},
            '"><svg onload=alert(4)>': [{"x": 1}],
        },
    )
    html = client.get("/patient/records").get_data(as_text=True)
    # No Python reprs: a list of results is a table, an object a nested list of facts.
    assert "{&#39;" not in html and "[&#39;" not in html and "True" not in html
    # A table that may scroll sideways is a named region the keyboard can reach.
    assert '<div class="table-wrap" tabindex="0" role="region" aria-label="Labs">' in html
    assert 'aria-label="&quot;&gt;&lt;svg onload=alert(4)&gt;"' in html
    labs = re.search(r'<table class="facts-table">(.*?)</table>', html).group(1)
    columns = re.findall(r"<th>(.*?)</th>", labs)  # in the order jsonb keeps the keys
    assert sorted(columns) == ["Flag", "Test", "Unit", "Value"]
    rows = [
        dict(zip(columns, re.findall(r"<td>(.*?)</td>", row), strict=True))
        for row in re.findall(r"<tr>(<td>.*?)</tr>", labs)
    ]
    assert rows == [
        {"Test": "Sodium", "Value": "133.58", "Unit": "mmol/L", "Flag": "low"},
        {
            "Test": "&lt;script&gt;alert(&#x27;lab&#x27;)&lt;/script&gt;",
            "Value": "4.28",
            "Unit": "",
            "Flag": "",
        },
    ]
    assert '<dt>Blood pressure</dt><dd><dl class="facts"><dt>Systolic</dt><dd>114</dd>' in html
    assert "<dt>Smoker</dt><dd>No</dd>" in html
    assert "<dd>penicillin, &lt;img src=z onerror=alert(3)&gt;</dd>" in html
    assert "<dt>&lt;i&gt;note&lt;/i&gt;</dt><dd>&mdash;</dd>" in html
    # Past four levels the rest is compact JSON text, escaped too.
    assert "&quot;d&quot;: &quot;&lt;b&gt;bold&lt;/b&gt;&quot;" in html
    assert "<script>alert" not in html and "<img src" not in html and "<b>bold" not in html
    assert "<svg" not in html


def test_records_scroll_newest_first_and_every_page_read_is_audited(app, client, patient, doctor):
    t = now()
    visit = gen_appointment(patient, doctor, t - timedelta(days=10))
    made = [gen_record(visit, created_at=t - timedelta(hours=n)) for n in range(25)]
    first = client.get("/patient/records", headers={"X-Request-ID": "page-one"})
    html = first.get_data(as_text=True)
    assert first.headers["X-Request-ID"] == "page-one"
    seen = record_ids(html)
    rest = fragment(client, SENTINEL.search(html).group(1))
    seen += record_ids(rest.get_data(as_text=True))
    assert seen == [r.id for r in made]
    assert SENTINEL.search(rest.get_data(as_text=True)) is None
    with app.app_context():
        rows = list(db.session.scalars(select(AuditLog).order_by(AuditLog.id)))
        user_id = db.session.get(Patient, patient.id).user_id
    assert [row.record_ids for row in rows] == [seen[:20], seen[20:]]
    assert rows[0].request_id == "page-one"
    assert rows[1].request_id == rest.headers["X-Request-ID"] != "page-one"
    assert all(row.actor_id == user_id and row.actor_role == "patient" for row in rows)
    assert all(row.patient_id == patient.id and row.address == "127.0.0.1" for row in rows)


def test_an_amended_record_shows_its_latest_version_and_an_amended_note(client, patient, doctor):
    t = now()
    visit = gen_appointment(patient, doctor, t - timedelta(days=10))
    original = gen_record(visit, created_at=t - timedelta(days=9), diagnosis="Sprained ankle")
    gen_record(
        visit,
        created_at=t - timedelta(days=8),
        diagnosis="Fractured ankle",
        supersedes_id=original.id,
    )
    html = client.get("/patient/records").get_data(as_text=True)
    assert "Fractured ankle" in html and "Sprained ankle" not in html
    assert "Amended" in html and "replaces the record of" in html


def test_records_empty_state(client, patient):
    html = client.get("/patient/records").get_data(as_text=True)
    assert "There are no medical records yet." in html
    for label in ('for="records-record_type"', 'for="records-from"', 'for="records-to"'):
        assert label in html


def test_a_sane_request_id_is_echoed_and_anything_else_replaced(client, patient):
    assert (
        client.get("/patient/history", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"]
        == "abc-123"
    )
    replaced = client.get("/patient/history", headers={"X-Request-ID": "bad id\twith spaces"})
    assert re.fullmatch(r"[0-9a-f-]{36}", replaced.headers["X-Request-ID"])
    too_long = client.get("/patient/history", headers={"X-Request-ID": "a" * 65})
    assert too_long.headers["X-Request-ID"] != "a" * 65


# The same list rendering, reused by another role's page (as the doctor pages will).


@pytest.fixture(scope="module")
def reuse_app(app):
    """An app with a small blueprint that shows any patient's lists through history_response
    and records_response, as the doctors' blueprint will."""
    reused = create_app(TestConfig)
    bp = Blueprint("patient_of", __name__, url_prefix="/patients-of")

    @bp.route("/<int:patient_id>/records")
    @login_required
    def records(patient_id):
        patient = db.get_or_404(Patient, patient_id)
        return records_response(
            current_user,
            patient.id,
            endpoint="patient_of.records",
            endpoint_args={"patient_id": patient_id},
            heading=f"Records of {patient.full_name}",
        )

    @bp.route("/<int:patient_id>/history")
    @login_required
    def history(patient_id):
        patient = db.get_or_404(Patient, patient_id)
        return history_response(
            current_user,
            patient.id,
            endpoint="patient_of.history",
            endpoint_args={"patient_id": patient_id},
            heading=f"Visits of {patient.full_name}",
        )

    reused.register_blueprint(bp)
    return reused


def signed_in(app, email: str):
    client = app.test_client()
    AuthActions(client).login(email)
    return client


def test_a_doctor_reads_records_only_of_patients_they_have_an_appointment_with(reuse_app, app):
    clinic = gen_clinic(timezone="Europe/Berlin")
    treating = gen_doctor(clinic, email="treating@example.com")
    gen_doctor(clinic, email="stranger@example.com")
    gen_admin(clinic, email="admin@example.com")
    patient = gen_patient(email="p1@example.com")
    gen_patient(email="p2@example.com")
    visit = gen_appointment(patient, treating, now() - timedelta(days=3))
    gen_record(visit, diagnosis="Seen by the treating doctor")
    url = f"/patients-of/{patient.id}/records"
    allowed = signed_in(reuse_app, "treating@example.com").get(url)
    assert allowed.status_code == 200
    assert "Seen by the treating doctor" in allowed.get_data(as_text=True)
    assert f"/patients-of/{patient.id}/records" in allowed.get_data(as_text=True)
    for email in ("stranger@example.com", "admin@example.com", "p2@example.com"):
        refused = signed_in(reuse_app, email).get(url)
        assert refused.status_code == 403, email
        assert "Seen by the treating doctor" not in refused.get_data(as_text=True)
    with app.app_context():
        rows = list(db.session.scalars(select(AuditLog)))
    assert len(rows) == 1 and rows[0].actor_role == "doctor"


def test_a_doctor_sees_a_patients_history_with_links_that_page_that_patient(reuse_app):
    clinic = gen_clinic(timezone="Europe/Berlin")
    treating = gen_doctor(clinic, email="treating@example.com")
    gen_doctor(clinic, email="stranger@example.com")
    patient = gen_patient(email="p1@example.com")
    t = now()
    visits = visits_at(patient, treating, [t - timedelta(days=n + 1) for n in range(3)])
    url = f"/patients-of/{patient.id}/history"
    client = signed_in(reuse_app, "treating@example.com")
    html = client.get(url, query_string={"limit": 2}).get_data(as_text=True)
    assert f"Visits of {patient.full_name}" in html
    next_url = SENTINEL.search(html).group(1)
    assert next_url.startswith(f"/patients-of/{patient.id}/history?")
    rest = fragment(client, next_url).get_data(as_text=True)
    assert visit_ids(html) + visit_ids(rest) == [v.id for v in visits]
    assert signed_in(reuse_app, "stranger@example.com").get(url).status_code == 403
