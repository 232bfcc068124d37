"""The shapes of the JSON API: pydantic models that spectree validates and puts in the spec.

Request models forbid unknown fields (422) and take JSON types as they are (a number is not
a string, a string is not a number); query models read strings, as query strings are. Dates
are YYYY-MM-DD only: pydantic alone would also read "86400" as 1970-01-02.
"""

import re
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    StrictStr,
)

from portal.models import RECORD_TYPES, STATUSES
from portal.services.pagination import DEFAULT_LIMIT, MAX_LIMIT

# Ids: INTEGER columns (patients, doctors, clinics) and BIGINT ones (appointments, records).
MAX_ID = 2**31 - 1
MAX_BIGINT_ID = 2**63 - 1
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


FIRST_YEAR, LAST_YEAR = 1900, 2200


def _json_integer(value):
    """A JSON integer: 7 or 7.0 (JSON Schema's integer), not "7" and not true."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("Input should be an integer.")
    if isinstance(value, float) and not value.is_integer():
        raise ValueError("Input should be an integer.")
    return int(value)


def _json_timestamp(value):
    """A date-time is a string in JSON (RFC 3339), never a number of seconds."""
    if not isinstance(value, str):
        raise ValueError("Input should be a date-time string with its offset.")
    return value


def _iso_date(value):
    """YYYY-MM-DD strings only (no timestamps, week dates or times)."""
    if isinstance(value, str) and not _ISO_DATE.fullmatch(value):
        raise ValueError("Dates look like 2026-11-29 (year-month-day).")
    return value


def _sane_year(value: date) -> date:
    """Dates far outside any visit's lifetime are typing errors (and overflow date arithmetic)."""
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"Dates lie between {FIRST_YEAR} and {LAST_YEAR}.")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date), AfterValidator(_sane_year)]
Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT, description="Page size, 1 to 100.")]
Cursor = Annotated[
    str,
    Field(
        min_length=1,
        max_length=512,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="next_cursor of the previous page, as it was.",
    ),
]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
JsonId = Annotated[int, Field(ge=1, le=MAX_ID), BeforeValidator(_json_integer)]


class Input(BaseModel):
    """A request body: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class Query(BaseModel):
    """Query parameters: unknown ones are refused, so a typo does not pass unnoticed.

    An optional parameter is typed as what it must be when given, with a default of None
    (pydantic does not validate defaults), so the spec shows no `null` nobody can send.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Output(BaseModel):
    """A response body."""


# Errors ------------------------------------------------------------------------------------


class ErrorDetail(Output):
    code: str = Field(description="Stable, for programs: slot_taken, invalid_token, ...")
    message: str = Field(description="For people.")
    fields: dict[str, str] = Field(description="Input name → what is wrong with it.")


class ErrorOut(Output):
    """Every error of the API has this shape."""

    error: ErrorDetail


# Auth --------------------------------------------------------------------------------------


class LoginIn(Input):
    email: StrictStr = Field(min_length=1, max_length=254)
    password: StrictStr = Field(min_length=1, max_length=256)


class RegisterIn(Input):
    email: Annotated[EmailStr, Field(max_length=254)]
    password: StrictStr = Field(min_length=10, max_length=256)
    full_name: StrictStr = Field(min_length=2, max_length=200, pattern=r"\S")
    phone: Annotated[
        StrictStr | None,
        Field(pattern=r"^\+[1-9][0-9]{6,14}$", description="International format, +14155550123."),
    ] = None


class RefreshIn(Input):
    refresh_token: StrictStr = Field(min_length=1, max_length=512)


class UserOut(Output):
    id: int
    role: Literal["patient", "doctor", "clinic_admin"]
    patient_id: int | None
    doctor_id: int | None
    clinic_id: int | None


class TokenOut(Output):
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int = Field(description="Seconds the access token is valid: 3600.")
    refresh_token: str
    refresh_expires_in: int = Field(description="Seconds the refresh token is valid: 604800.")
    user: UserOut


# Catalogue and search ----------------------------------------------------------------------


class SpecializationsOut(Output):
    items: list[str]


class ClinicOut(Output):
    id: int
    name: str
    city: str
    timezone: str = Field(description="IANA name, e.g. America/New_York.")


class ClinicsQuery(Query):
    city: str = Field(None, min_length=1, max_length=120)
    limit: Limit = DEFAULT_LIMIT
    cursor: Cursor = None


class ClinicsOut(Output):
    items: list[ClinicOut]
    next_cursor: str | None


class DoctorOut(Output):
    id: int
    full_name: str
    specialization: str
    consultation_fee: str = Field(description="A decimal amount, e.g. 90.00.")
    clinic: ClinicOut


class SlotOut(Output):
    starts_at: datetime
    ends_at: datetime


class SearchQuery(Query):
    specialization: str = Field(min_length=1, max_length=80)
    date_from: IsoDate = Field(None, description="Default: today.")
    date_to: IsoDate = Field(None, description="At most 13 days after date_from (14 days in all).")
    city: str = Field(None, min_length=1, max_length=120)
    clinic_id: Id = Field(None, description="city or clinic_id is needed.")
    limit: Limit = DEFAULT_LIMIT
    cursor: Cursor = None


class SearchResultOut(Output):
    doctor: DoctorOut
    slots: list[SlotOut]


class SearchOut(Output):
    items: list[SearchResultOut]
    next_cursor: str | None


# Appointments ------------------------------------------------------------------------------


class BookingIn(Input):
    doctor_id: JsonId
    starts_at: Annotated[AwareDatetime, BeforeValidator(_json_timestamp)] = Field(
        description="A free slot's starts_at, with its offset."
    )
    kind: Literal["in_person", "video"] = "in_person"
    reason: Annotated[StrictStr | None, Field(max_length=1000)] = None


class AppointmentOut(Output):
    id: int
    patient_id: int
    starts_at: datetime
    ends_at: datetime
    status: Literal["scheduled", "completed", "cancelled", "no_show"]
    kind: Literal["in_person", "video"]
    reason: str | None
    doctor: DoctorOut


class HistoryQuery(Query):
    limit: Limit = DEFAULT_LIMIT
    cursor: Cursor = None
    status: Literal[STATUSES] = None  # type: ignore[valid-type]
    date_from: IsoDate = Field(None, alias="from")
    date_to: IsoDate = Field(None, alias="to")


class HistoryOut(Output):
    items: list[AppointmentOut]
    next_cursor: str | None


class VideoTokenOut(Output):
    room_name: str
    token: str = Field(description="A Twilio Video access token for the room.")
    expires_in: int


# Medical records ---------------------------------------------------------------------------


class RecordsQuery(Query):
    limit: Limit = DEFAULT_LIMIT
    cursor: Cursor = None
    record_type: Literal[RECORD_TYPES] = None  # type: ignore[valid-type]
    date_from: IsoDate = Field(None, alias="from")
    date_to: IsoDate = Field(None, alias="to")


class RecordOut(Output):
    id: int
    patient_id: int
    appointment_id: int | None
    created_at: datetime
    record_type: str
    diagnosis: str | None
    prescription: str | None
    data: dict | None
    doctor: DoctorOut
    amends_id: int | None = Field(description="The record this one amends, if any.")
    amends_created_at: datetime | None


class RecordsOut(Output):
    items: list[RecordOut]
    next_cursor: str | None


# A doctor's day ----------------------------------------------------------------------------


class ScheduleQuery(Query):
    date: IsoDate = Field(None, description="Default: today at the clinic.")


class PatientBriefOut(Output):
    id: int
    full_name: str


class ScheduleItemOut(Output):
    id: int
    starts_at: datetime
    ends_at: datetime
    status: Literal["scheduled", "completed", "cancelled", "no_show"]
    kind: Literal["in_person", "video"]
    reason: str | None
    patient: PatientBriefOut


class ScheduleOut(Output):
    doctor_id: int
    date: date
    timezone: str
    items: list[ScheduleItemOut]
