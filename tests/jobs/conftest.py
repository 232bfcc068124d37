"""Fixtures for the jobs: moto's SES server, the Twilio fake, real RQ workers on the test Redis.

`providers` points the session's app at the fakes through its configuration (as a worker
reads it from the environment) and puts it back afterwards; `worker_env` is that same
configuration as environment variables, for a real `rq worker` subprocess.
"""

import logging
import os
import time
from types import SimpleNamespace

import boto3
import pytest
from redis import Redis
from rq import Queue, SimpleWorker

from portal.config import TestConfig
from tests.fakes.ses import MotoSes, ThrottlingSes
from tests.fakes.twilio import ACCOUNT_SID, FakeTwilio

SENDER = "reminders@portal.example"
TWILIO_SETTINGS = {
    "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
    "TWILIO_AUTH_TOKEN": "fake-auth-token",
    "TWILIO_API_KEY": "SK" + "2" * 32,
    "TWILIO_API_SECRET": "fake-api-secret-that-is-long-enough-to-sign",
    "TWILIO_MESSAGING_SERVICE_SID": "MG" + "3" * 32,
}
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def moto_ses():
    """moto's server for SES, for the whole run; reset per test by `providers`."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = MotoSes().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def fake_twilio():
    fake = FakeTwilio().start()
    yield fake
    fake.stop()


@pytest.fixture
def ses_proxy(moto_ses):
    """A throttling/holding proxy in front of moto; point SES_ENDPOINT_URL at `proxy.url`."""
    proxy = ThrottlingSes(moto_ses.url).start()
    yield proxy
    proxy.stop()


class Providers(SimpleNamespace):
    """The fakes and the settings that point the app (or a worker) at them."""

    def point_ses_at(self, url: str) -> None:
        self.settings["SES_ENDPOINT_URL"] = url
        self.app.config["SES_ENDPOINT_URL"] = url
        self.app.extensions.pop("portal_providers", None)

    def env(self, **extra) -> dict:
        """Environment for a worker subprocess: the test database, Redis and these fakes."""
        env = {**os.environ, **AWS_ENV, "PORTAL_ENV": "test"}
        env["TEST_DATABASE_URL"] = TestConfig.SQLALCHEMY_DATABASE_URI
        env["TEST_REDIS_URL"] = TestConfig.REDIS_URL
        for key, value in self.settings.items():
            if isinstance(value, tuple):
                value = ",".join(str(v) for v in value)
            env[key] = str(value)
        env.update({k: str(v) for k, v in extra.items()})
        return env


@pytest.fixture
def providers(app, moto_ses, fake_twilio, monkeypatch):
    """The app sends through moto's SES and the Twilio fake, with short retry intervals."""
    moto_ses.reset()
    fake_twilio.reset()
    for key, value in AWS_ENV.items():
        monkeypatch.setenv(key, value)
    settings = {
        "EMAIL_PROVIDER": "ses",
        "SMS_PROVIDER": "twilio",
        "VIDEO_PROVIDER": "twilio",
        "SES_ENDPOINT_URL": moto_ses.url,
        "SES_SENDER": SENDER,
        "TWILIO_BASE_URL": fake_twilio.url,
        "PROVIDER_TIMEOUT": 2.0,
        "JOB_RETRY_INTERVALS": (1, 1, 1, 1, 1),
        "OUTBOX_BACKOFF_SECONDS": 1,
        "SMS_RATE_PER_SECOND": 1000,
        **TWILIO_SETTINGS,
    }
    for key, value in settings.items():
        monkeypatch.setitem(app.config, key, value)
    app.extensions.pop("portal_providers", None)
    app.extensions.pop("portal_sms_limiter", None)
    boto3.client("ses", region_name="us-east-1", endpoint_url=moto_ses.url).verify_email_identity(
        EmailAddress=SENDER
    )
    yield Providers(app=app, ses=moto_ses, twilio=fake_twilio, settings=settings)
    app.extensions.pop("portal_providers", None)
    app.extensions.pop("portal_sms_limiter", None)
    app.extensions.pop("portal_video_breaker", None)


@pytest.fixture
def rq_queue(app):
    """The app's own queue on the test Redis (TestConfig.RQ_QUEUE)."""
    return Queue(app.config["RQ_QUEUE"], connection=Redis.from_url(TestConfig.REDIS_URL))


@pytest.fixture
def run_worker(app, rq_queue):
    """Run a real RQ SimpleWorker in this process until the queue and its due retries are done.

    A burst worker with the scheduler moves due retries (scheduled with an interval) back to
    the queue when it starts, so it runs in rounds until nothing is queued or scheduled.
    """

    def run(max_seconds: float = 30) -> None:
        deadline = time.monotonic() + max_seconds
        with app.app_context():
            while True:
                worker = SimpleWorker([rq_queue], connection=rq_queue.connection)
                worker.work(burst=True, with_scheduler=True)
                waiting = rq_queue.count + rq_queue.scheduled_job_registry.count
                if waiting == 0:
                    return
                assert time.monotonic() < deadline, f"{waiting} jobs still waiting"
                time.sleep(0.3)

    return run
