"""Email, SMS and video providers: one small interface each, a real and a local implementation.

Every provider error says what the caller may safely do next, because that decides whether
an outbox row can be sent again without risking a second message:

- `Retryable`: nothing was sent (throttled, unreachable, "service unavailable"); try later.
- `Permanent`: refused for good (bad address, rejected message); retrying will not help.
- `Uncertain`: the call may or may not have taken effect (timed out after sending, an answer
  that cannot be read); sending again could send twice.

`get_provider("email" | "sms" | "video")` builds the one chosen by configuration
(EMAIL_PROVIDER, SMS_PROVIDER, VIDEO_PROVIDER) once per app and reuses its client.
"""

from flask import current_app


class ProviderError(Exception):
    """A provider call that did not succeed; `code` is the provider's own error code."""

    def __init__(self, message: str, code: str | int | None = None):
        super().__init__(message)
        self.message = message
        self.code = code


class Retryable(ProviderError):
    """Nothing was sent: the same call may be made again later."""


class Permanent(ProviderError):
    """Refused: the same call will be refused again."""


class Uncertain(ProviderError):
    """The call may have taken effect: making it again may send twice."""


def get_provider(kind: str):
    """The app's email, SMS or video provider, built on first use from the configuration."""
    providers = current_app.extensions.setdefault("portal_providers", {})
    if kind not in providers:
        providers[kind] = _build(kind, current_app.config)
    return providers[kind]


def _build(kind: str, config):
    if kind == "email":
        from portal.providers.email import make_email_provider

        return make_email_provider(config)
    if kind == "sms":
        from portal.providers.sms import make_sms_provider

        return make_sms_provider(config)
    if kind == "video":
        from portal.providers.video import make_video_provider

        return make_video_provider(config)
    raise ValueError(f"unknown provider kind {kind!r}")
