"""A PostgreSQL restart under a running app: a clean 503, then recovery without restarting the app."""

from flask_migrate import upgrade

from portal import create_app
from portal.config import TestConfig
from tests.conftest import AuthActions
from tests.factories import gen_patient


def test_requests_fail_cleanly_during_a_restart_and_then_recover(app, own_postgres):
    class OwnDatabase(TestConfig):
        SQLALCHEMY_DATABASE_URI = own_postgres.url
        TESTING = False  # answer errors as production does

    served = create_app(OwnDatabase)
    with served.app_context():
        upgrade()
        gen_patient(email="p@example.com")
    client = served.test_client()
    assert AuthActions(client).login("p@example.com").status_code == 303
    assert client.get("/patient/").status_code == 200

    own_postgres.restart()

    during = client.get("/patient/")  # the pooled connection died with the old server
    assert during.status_code == 503
    assert "Temporarily unavailable" in during.get_data(as_text=True)
    after = client.get("/patient/")
    assert after.status_code == 200  # the pool reconnected by itself
