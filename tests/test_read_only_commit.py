"""How a request's transaction ends: COMMIT when it only read (so psycopg keeps its prepared
statements), the usual rollback for anything else."""

from sqlalchemy import func, select, text

from portal import create_app
from portal.config import TestConfig
from portal.extensions import db
from portal.models import Clinic


def _app_with_routes():
    """A fresh app with a few routes that read, write without committing, or fail."""
    app = create_app(TestConfig)

    @app.get("/_t/read")
    def read():
        return str(db.session.scalar(select(func.count()).select_from(Clinic)))

    @app.get("/_t/write-uncommitted")
    def write_uncommitted():
        db.session.execute(
            text("INSERT INTO clinics (name, city, timezone) VALUES ('Left', 'Nowhere', 'UTC')")
        )
        return "written, not committed"

    @app.get("/_t/pending-orm")
    def pending_orm():
        db.session.add(Clinic(name="Pending", city="Nowhere", timezone="UTC"))
        return "added, not flushed"

    @app.get("/_t/read-then-fail")
    def read_then_fail():
        db.session.execute(
            text("INSERT INTO clinics (name, city, timezone) VALUES ('Half', 'Nowhere', 'UTC')")
        )
        raise RuntimeError("the view failed after writing")

    return app


def _clinics(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Clinic))


def test_read_only_requests_keep_prepared_statements(app):
    test_app = _app_with_routes()
    client = test_app.test_client()
    for _ in range(8):  # psycopg prepares a statement on its fifth execution
        assert client.get("/_t/read").status_code == 200
    with test_app.app_context():
        # One request at a time: the pool hands back the one connection the requests used.
        prepared = db.session.scalar(text("SELECT count(*) FROM pg_prepared_statements"))
    assert prepared >= 1


def test_a_write_left_uncommitted_is_rolled_back(app):
    test_app = _app_with_routes()
    client = test_app.test_client()
    assert client.get("/_t/write-uncommitted").status_code == 200
    assert client.get("/_t/pending-orm").status_code == 200
    assert _clinics(test_app) == 0


def test_a_failing_request_is_rolled_back(app):
    test_app = _app_with_routes()
    test_app.config["PROPAGATE_EXCEPTIONS"] = False
    client = test_app.test_client()
    assert client.get("/_t/read-then-fail").status_code == 500
    assert _clinics(test_app) == 0
