"""SMS: Twilio Messages with a validity period, or the console.

The validity period is how long Twilio may keep the message queued; past it the message is
dropped, not delivered late. The caller makes it end before the visit.
"""

import logging
import re
import uuid
from typing import Protocol

from portal.providers import Permanent, Uncertain
from portal.providers.twilio_client import classify, make_twilio_client

log = logging.getLogger(__name__)

E164 = re.compile(r"\+[1-9]\d{7,14}")
MAX_VALIDITY_SECONDS = 36000  # Twilio's upper bound


class SmsProvider(Protocol):
    def send(self, to: str, body: str, validity_seconds: int) -> str:
        """Send one SMS; return the provider's message id or raise a ProviderError."""
        ...


def is_phone_number(value: str | None) -> bool:
    """True for an E.164 number such as +15551234567 (the only form Twilio takes)."""
    return bool(value) and E164.fullmatch(value) is not None


class ConsoleSms:
    """The embedded default: log each message and call it sent."""

    def send(self, to: str, body: str, validity_seconds: int) -> str:
        log.info("sms to %s (valid %ss): %s", to, validity_seconds, body)
        return f"console-{uuid.uuid4().hex}"


class TwilioSms:
    """Twilio Messages through a Messaging Service (which ValidityPeriod requires)."""

    def __init__(self, config):
        if not config["TWILIO_MESSAGING_SERVICE_SID"]:
            raise ValueError("SMS_PROVIDER=twilio needs TWILIO_MESSAGING_SERVICE_SID")
        self.client = make_twilio_client(config)
        self.messaging_service_sid = config["TWILIO_MESSAGING_SERVICE_SID"]

    def send(self, to: str, body: str, validity_seconds: int) -> str:
        if not 1 <= validity_seconds <= MAX_VALIDITY_SECONDS:
            raise Permanent(f"validity period {validity_seconds}s is outside 1..36000")
        try:
            message = self.client.messages.create(
                to=to,
                body=body,
                messaging_service_sid=self.messaging_service_sid,
                validity_period=validity_seconds,
            )
            sid = message.sid
        except Exception as error:
            raise classify(error) from error
        if not sid:
            raise Uncertain("Twilio answered without a message sid")
        return sid


def make_sms_provider(config) -> SmsProvider:
    """Twilio when SMS_PROVIDER is "twilio", else the console."""
    if config["SMS_PROVIDER"] == "twilio":
        return TwilioSms(config)
    return ConsoleSms()
