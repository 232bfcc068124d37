"""Email: AWS SES bulk templated sends (up to 50 destinations a call), or the console.

SES v1 `send_bulk_templated_email` is the call: one request for up to 50 recipients of one
template, answered with one status (and message id) per destination, in order. botocore's
own retries are off: the outbox retries with backoff and records each attempt.
"""

import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
)

from portal.providers import Permanent, Retryable, Uncertain

log = logging.getLogger(__name__)

SES_MAX_DESTINATIONS = 50
THROTTLING_CODES = {"Throttling", "ThrottlingException", "TooManyRequestsException"}
# Per-destination statuses of a bulk send that mean "not sent, try again later".
RETRYABLE_STATUSES = {
    "TransientFailure",
    "Failed",
    "AccountThrottled",
    "AccountDailyQuotaExceeded",
    "AccountSendingPaused",
    "ConfigurationSetSendingPaused",
}


@dataclass(frozen=True)
class EmailTemplate:
    """A named template; SES stores it (created on first use), the console renders it."""

    name: str
    subject: str
    text: str
    html: str
    defaults: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Email:
    to: str
    data: dict


@dataclass(frozen=True)
class Outcome:
    """What happened to one destination of a bulk send."""

    message_id: str | None = None
    error: str | None = None
    retryable: bool = False

    @property
    def sent(self) -> bool:
        return self.message_id is not None and self.error is None


class EmailProvider(Protocol):
    max_destinations: int

    def send_bulk(self, template: EmailTemplate, emails: Sequence[Email]) -> list[Outcome]:
        """Send one template to many recipients; one Outcome per email, in order."""
        ...


def render(text: str, data: dict) -> str:
    """Fill {{name}} placeholders the way SES does for these simple templates."""
    for key, value in data.items():
        text = text.replace("{{" + key + "}}", str(value))
    return text


class ConsoleEmail:
    """The embedded default: log each message and call it sent."""

    max_destinations = SES_MAX_DESTINATIONS

    def send_bulk(self, template: EmailTemplate, emails: Sequence[Email]) -> list[Outcome]:
        outcomes = []
        for email in emails:
            data = {**template.defaults, **email.data}
            log.info(
                "email to %s: %s | %s",
                email.to,
                render(template.subject, data),
                render(template.text, data),
            )
            outcomes.append(Outcome(message_id=f"console-{uuid.uuid4().hex}"))
        return outcomes


class SesEmail:
    """AWS SES through boto3; endpoint, region, sender and timeouts from the configuration."""

    max_destinations = SES_MAX_DESTINATIONS

    def __init__(
        self,
        sender: str,
        region: str,
        endpoint_url: str | None = None,
        connect_timeout: float = 2.0,
        read_timeout: float = 10.0,
        configuration_set: str | None = None,
    ):
        self.sender = sender
        self.configuration_set = configuration_set
        self.client = boto3.client(
            "ses",
            region_name=region,
            endpoint_url=endpoint_url,
            config=BotoConfig(
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                retries={"total_max_attempts": 1},
                # The request is built here, the same way every time; validating its 50
                # destinations against the model cost more than serialising them.
                parameter_validation=False,
            ),
        )
        self._known_templates: set[str] = set()

    def send_bulk(self, template: EmailTemplate, emails: Sequence[Email]) -> list[Outcome]:
        if not emails:
            return []
        if len(emails) > self.max_destinations:
            raise ValueError(f"at most {self.max_destinations} destinations a call")
        self._ensure_template(template)
        try:
            answer = self._call(template, emails)
        except ClientError as error:
            if _error_code(error) != "TemplateDoesNotExist":
                raise _classify(error) from error
            # Deleted behind our back (or a fresh SES endpoint): create it and try once more.
            self._known_templates.discard(template.name)
            self._ensure_template(template)
            try:
                answer = self._call(template, emails)
            except Exception as again:
                raise _classify(again) from again
        except Exception as error:  # timeouts, unreadable answers: see _classify
            raise _classify(error) from error
        return _outcomes(answer, len(emails))

    def _call(self, template: EmailTemplate, emails: Sequence[Email]) -> dict:
        request = {
            "Source": self.sender,
            "Template": template.name,
            "DefaultTemplateData": json.dumps(template.defaults),
            "Destinations": [
                {
                    "Destination": {"ToAddresses": [email.to]},
                    "ReplacementTemplateData": json.dumps(email.data),
                }
                for email in emails
            ],
        }
        if self.configuration_set:
            request["ConfigurationSetName"] = self.configuration_set
        return self.client.send_bulk_templated_email(**request)

    def _ensure_template(self, template: EmailTemplate) -> None:
        """Create the template once per process; one that already exists is kept as it is."""
        if template.name in self._known_templates:
            return
        try:
            self.client.create_template(
                Template={
                    "TemplateName": template.name,
                    "SubjectPart": template.subject,
                    "TextPart": template.text,
                    "HtmlPart": template.html,
                }
            )
        except ClientError as error:
            if _error_code(error) != "AlreadyExists":
                raise _classify(error) from error
        except Exception as error:
            raise _classify(error) from error
        self._known_templates.add(template.name)


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _classify(error: Exception) -> Exception:
    """Map a boto error to what the outbox may do: retry, give up, or not know."""
    if isinstance(error, ClientError):
        code = _error_code(error)
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        message = error.response.get("Error", {}).get("Message", "")
        text = f"SES {code}: {message}".strip()
        if code in THROTTLING_CODES or status == 503 or code == "ServiceUnavailable":
            return Retryable(text, code)
        if status >= 500:
            return Uncertain(text, code)
        return Permanent(text, code)
    if isinstance(error, (EndpointConnectionError, ConnectTimeoutError)):
        return Retryable(f"SES unreachable: {error}")
    return Uncertain(f"SES answer unknown: {type(error).__name__}: {error}")


def _outcomes(answer: dict, expected: int) -> list[Outcome]:
    """One Outcome per destination; an answer that does not line up is not trusted."""
    statuses = answer.get("Status") if isinstance(answer, dict) else None
    if not isinstance(statuses, list) or len(statuses) != expected:
        raise Uncertain(f"SES answered {expected} destinations with {statuses!r:.200}")
    outcomes = []
    for entry in statuses:
        status = entry.get("Status") or ("Success" if entry.get("MessageId") else None)
        if status == "Success" and entry.get("MessageId"):
            outcomes.append(Outcome(message_id=entry["MessageId"]))
        elif status is None:
            raise Uncertain(f"SES status without outcome: {entry!r:.200}")
        else:
            error = f"SES {status}: {entry.get('Error', '')}".strip()
            outcomes.append(Outcome(error=error, retryable=status in RETRYABLE_STATUSES))
    return outcomes


def make_email_provider(config) -> EmailProvider:
    """SES when EMAIL_PROVIDER is "ses", else the console."""
    if config["EMAIL_PROVIDER"] == "ses":
        return SesEmail(
            sender=config["SES_SENDER"],
            region=config["AWS_REGION"],
            endpoint_url=config["SES_ENDPOINT_URL"],
            connect_timeout=config["PROVIDER_CONNECT_TIMEOUT"],
            read_timeout=config["PROVIDER_TIMEOUT"],
            configuration_set=config.get("SES_CONFIGURATION_SET") or None,
        )
    return ConsoleEmail()
