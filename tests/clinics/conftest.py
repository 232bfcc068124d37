"""A clinic with a signed-in admin, for the clinic admin's pages."""

import pytest

from portal.extensions import db
from tests.conftest import csrf_token_from
from tests.factories import gen_admin, gen_clinic, gen_doctor

TZ = "America/New_York"


@pytest.fixture
def clinic(app):
    return gen_clinic(name="Hudson Health", timezone=TZ)


@pytest.fixture
def doctor(clinic):
    return gen_doctor(clinic, full_name="Dr. Ada Lane")


@pytest.fixture
def admin_client(client, auth, clinic):
    """The test client, signed in as the clinic's admin."""
    gen_admin(clinic, email="admin@example.com")
    auth.login("admin@example.com")
    return client


def post_form(client, path: str, data: dict, form_page: str | None = None):
    """POST a form with the CSRF token of the page that shows it."""
    token = csrf_token_from(client.get(form_page or path).get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **data})


def fetch(app, model, **where):
    """Rows of a model matching simple equality filters, by id."""
    with app.app_context():
        query = db.select(model).filter_by(**where).order_by(model.id)
        return list(db.session.scalars(query))
