"""One Twilio REST client per app: credentials, timeouts and TWILIO_BASE_URL in one place."""

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from portal.providers import Permanent, Retryable, Uncertain


def make_twilio_client(config) -> Client:
    """An API-key client when a key is set (else account SID and auth token), with timeouts.

    TWILIO_BASE_URL replaces the API host for every domain used here (api, video): a local
    fake in tests, a regional edge in production.
    """
    # One number: requests applies it to connecting and to each read of the answer.
    http_client = TwilioHttpClient(timeout=config["PROVIDER_TIMEOUT"])
    client = Client(
        username=config["TWILIO_API_KEY"] or config["TWILIO_ACCOUNT_SID"],
        password=config["TWILIO_API_SECRET"] or config["TWILIO_AUTH_TOKEN"],
        account_sid=config["TWILIO_ACCOUNT_SID"],
        http_client=http_client,
    )
    base_url = config.get("TWILIO_BASE_URL")
    if base_url:
        client.api.base_url = base_url.rstrip("/")
        client.video.base_url = base_url.rstrip("/")
    return client


def classify(error: Exception) -> Exception:
    """Map a Twilio or transport error to what a caller may do: retry, give up, or not know."""
    if isinstance(error, TwilioRestException):
        text = f"Twilio {error.code or error.status}: {error.msg}"
        if error.status == 429 or error.code == 20429 or error.status == 503:
            return Retryable(text, error.code or error.status)
        if error.status >= 500:
            return Uncertain(text, error.code or error.status)
        return Permanent(text, error.code or error.status)
    if isinstance(error, requests.ConnectTimeout):
        return Retryable(f"Twilio unreachable: {error}")
    if isinstance(error, requests.ConnectionError):
        reason = getattr(error.args[0], "reason", None) if error.args else None
        if isinstance(reason, (NewConnectionError, ConnectTimeoutError)):
            return Retryable(f"Twilio unreachable: {reason}")
        return Uncertain(f"Twilio connection lost: {error}")
    return Uncertain(f"Twilio answer unknown: {type(error).__name__}: {error}")
