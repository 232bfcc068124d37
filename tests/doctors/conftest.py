"""A clinic with a signed-in doctor, for the doctor's pages."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.factories import gen_clinic, gen_doctor

TZ = "America/New_York"


@pytest.fixture
def doctor(app):
    """A doctor of a New York clinic."""
    return gen_doctor(gen_clinic(timezone=TZ), email="doc@example.com", full_name="Dr. Ada Lane")


@pytest.fixture
def doctor_client(client, auth, doctor):
    """The test client, signed in as that doctor."""
    auth.login("doc@example.com")
    return client


def local_day(moment: datetime) -> str:
    """The clinic's local date of an instant, as ?date= wants it."""
    return moment.astimezone(ZoneInfo(TZ)).date().isoformat()


def hours_from_now(hours: float) -> datetime:
    """An instant some hours away, on a whole minute."""
    return (datetime.now(UTC) + timedelta(hours=hours)).replace(second=0, microsecond=0)
