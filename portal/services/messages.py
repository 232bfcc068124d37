"""What each notification says: email templates (SES stores them by name) and SMS texts.

Times are shown in the clinic's own timezone, the one the patient booked in.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

from portal.providers.email import EmailTemplate, render

# Bump the version suffix when a text changes: SES keeps templates by name.
TEMPLATE_VERSION = "v1"

_SUBJECTS = {
    "reminder": "Reminder: your {{visit}} with {{doctor_name}} tomorrow",
    "booked": "Booked: your {{visit}} with {{doctor_name}}",
    "cancelled": "Cancelled: your {{visit}} with {{doctor_name}}",
    "rescheduled": "Moved: your {{visit}} with {{doctor_name}}",
    "fallback_phone": "Your video visit with {{doctor_name}} will be a phone call",
    "fallback_phone_doctor": "Call {{patient_name}} by phone instead of video",
}

_TEXTS = {
    "reminder": "Hello {{patient_name}}, this is a reminder of your {{visit}} with "
    "{{doctor_name}} at {{clinic_name}} on {{when}}.",
    "booked": "Hello {{patient_name}}, your {{visit}} with {{doctor_name}} at {{clinic_name}} "
    "is booked for {{when}}.",
    "cancelled": "Hello {{patient_name}}, your {{visit}} with {{doctor_name}} at "
    "{{clinic_name}} on {{when}} is cancelled.",
    "rescheduled": "Hello {{patient_name}}, your {{visit}} with {{doctor_name}} at "
    "{{clinic_name}} is now on {{when}}.",
    "fallback_phone": "Hello {{patient_name}}, the video room for your visit with "
    "{{doctor_name}} on {{when}} could not be opened. {{doctor_name}} will call you on "
    "your phone instead.",
    "fallback_phone_doctor": "The video room for your visit with {{patient_name}} on {{when}} "
    "could not be opened. Please call the patient at {{patient_phone}}.",
}

KINDS = tuple(_TEXTS)

# SES needs a value for every placeholder even when a destination leaves one out.
_DEFAULTS = {
    "patient_name": "there",
    "doctor_name": "your doctor",
    "clinic_name": "the clinic",
    "when": "the booked time",
    "visit": "visit",
    "patient_phone": "the number on file",
}


def email_template(kind: str) -> EmailTemplate:
    """The SES template for a kind of notification."""
    text = _TEXTS[kind]
    return EmailTemplate(
        name=f"portal-{kind.replace('_', '-')}-{TEMPLATE_VERSION}",
        subject=_SUBJECTS[kind],
        text=text,
        html=f"<p>{text}</p>",
        defaults=dict(_DEFAULTS),
    )


def placeholders(kind: str) -> frozenset[str]:
    """The names a kind's email template uses (only these are sent per destination)."""
    text = _SUBJECTS[kind] + _TEXTS[kind]
    return frozenset(name for name in _DEFAULTS if "{{" + name + "}}" in text)


def sms_text(kind: str, data: dict) -> str:
    """The SMS body for a kind of notification (one segment where possible)."""
    return render(_TEXTS[kind], {**_DEFAULTS, **data})


def local_when(starts_at: datetime, timezone: str) -> str:
    """'Monday 30 November 2026 at 09:30 (Europe/Berlin)'; raises for an unknown zone."""
    local = starts_at.astimezone(ZoneInfo(timezone))
    return f"{local:%A %d %B %Y at %H:%M} ({timezone})"
