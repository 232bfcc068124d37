"""Views marked @read_only read without a transaction (no BEGIN, no COMMIT: two round trips
fewer on every history page, search and video token), and can never write: a statement that
changes data is refused before it is sent."""

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import Engine

from portal import create_app
from portal.config import TestConfig
from portal.database import WriteInReadOnlyRequest, read_only
from portal.extensions import db
from portal.models import Clinic


class Statements:
    """Each statement sent meanwhile: whether its connection was in autocommit, and its verb."""

    def __init__(self):
        self.seen: list[tuple[bool, str]] = []

    def __enter__(self):
        event.listen(Engine, "before_cursor_execute", self._note)
        return self

    def __exit__(self, *exc):
        event.remove(Engine, "before_cursor_execute", self._note)

    def _note(self, conn, cursor, statement, parameters, context, executemany):
        self.seen.append((conn.connection.driver_connection.autocommit, statement.split()[0]))

    @property
    def autocommit(self) -> set[bool]:
        return {mode for mode, _ in self.seen}


def test_read_only_pages_read_in_autocommit_and_writing_views_in_transactions(api, world):
    token = api.token_for(world.user("patient"))
    with Statements() as history:
        page = api.get(f"/api/patients/{world.patient_p.id}/appointments", token=token)
    assert page.status_code == 200 and len(page.get_json()["items"]) == 2
    assert history.seen and history.autocommit == {True}  # the token's user and the page

    # The pooled connection is back in transactions for a view that writes (its audit row).
    with Statements() as records:
        page = api.get(f"/api/patients/{world.patient_p.id}/medical-records", token=token)
    assert page.status_code == 200
    assert records.autocommit == {False} and "INSERT" in {verb for _, verb in records.seen}

    with Statements() as joining:
        answer = api.post(f"/api/appointments/{world.visit_p.id}/video-token", token=token)
    assert answer.status_code == 200, answer.get_json()
    assert joining.autocommit == {True}


def _app_with_read_only_routes():
    app = create_app(TestConfig)

    @app.get("/_t/read-only-write")
    @read_only
    def write_anyway():
        db.session.execute(
            text("INSERT INTO clinics (name, city, timezone) VALUES ('Sneaky', 'Nowhere', 'UTC')")
        )
        db.session.commit()
        return "written"

    @app.get("/_t/read-only-read")
    @read_only
    def read():
        return str(db.session.scalar(select(func.count()).select_from(Clinic)))

    return app


def test_a_write_in_a_read_only_view_is_refused_before_it_is_sent(app):
    test_app = _app_with_read_only_routes()
    client = test_app.test_client()
    with pytest.raises(WriteInReadOnlyRequest):
        client.get("/_t/read-only-write")
    assert client.get("/_t/read-only-read").text == "0"


def test_read_only_views_keep_prepared_statements(app):
    test_app = _app_with_read_only_routes()
    client = test_app.test_client()
    for _ in range(8):  # psycopg prepares a statement on its fifth execution
        assert client.get("/_t/read-only-read").status_code == 200
    with test_app.app_context():
        prepared = db.session.scalar(text("SELECT count(*) FROM pg_prepared_statements"))
    assert prepared >= 1
