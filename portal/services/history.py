"""A patient's appointments: the history newest first and the upcoming visits soonest first.

Both are keyset lists over (starts_at, id) on ix_appointments_patient_starts (patient_id,
starts_at DESC, id DESC): the history walks the index forward, the upcoming visits walk it
backward, and neither needs a Sort node or an OFFSET. One query per page, doctor and clinic
joined in it. Cursors are scoped to the patient and the filters, so someone else's cursor, or
one taken from another filter, is refused (BadCursor).

A page holds read-only Visit rows (with their DoctorCard and ClinicCard), made straight from the
query's columns: the attributes the pages and the API read, at a fraction of the cost of ORM
entities that nobody changes.

Date filters are calendar days in the zone of each visit's clinic, the zone its time is shown
in: the index range is bounded in UTC first, wide enough for any zone, then each row's local
date is tested exactly.
"""

import calendar
import functools
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Date, Select, bindparam, event, func, select, tuple_
from sqlalchemy.engine import Engine

from portal.models import STATUSES, Appointment, Clinic, Doctor
from portal.models.types import BigId, UTCDateTime
from portal.replica import select_rows
from portal.services.directory import DOCTOR_CARD_COLUMNS, DoctorCard, DoctorCards
from portal.services.pagination import (
    DEFAULT_LIMIT,
    Page,
    decode_time_id_cursor,
    encode_cursor,
    page_from_rows,
    parse_limit,
)

# The portal's default view: upcoming visits, then this many months of the past.
RECENT_MONTHS = 6

# The widest offsets from UTC in use (UTC-12 to UTC+14): a local calendar day anywhere lies
# within [midnight UTC - 14 h, next midnight UTC + 12 h).
_EARLIEST_OFFSET = timedelta(hours=14)
_LATEST_OFFSET = timedelta(hours=12)
_FIRST_YEAR, _LAST_YEAR = 1900, 2200
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class InvalidFilter(ValueError):
    """A filter value that cannot be used; `field` names the input at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def parse_date_filter(raw: str | None, field: str) -> date | None:
    """A YYYY-MM-DD date typed by a user; None when empty; InvalidFilter when it does not parse."""
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        # fromisoformat alone would also take 20261129 and 2026-W48-1.
        if not _DATE.fullmatch(raw):
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidFilter(field, "Dates look like 2026-11-29 (year-month-day).") from None


def check_date_range(date_from: date | None, date_to: date | None) -> None:
    """InvalidFilter for a date outside 1900-2200 or an end before the start."""
    for field, value in (("from", date_from), ("to", date_to)):
        if value is not None and not _FIRST_YEAR <= value.year <= _LAST_YEAR:
            raise InvalidFilter(field, f"Dates must lie between {_FIRST_YEAR} and {_LAST_YEAR}.")
    if date_from and date_to and date_to < date_from:
        raise InvalidFilter("to", "The end date is before the start date.")


def check_status(status: str | None) -> None:
    """InvalidFilter for a status that appointments do not have."""
    if status is not None and status not in STATUSES:
        raise InvalidFilter("status", "Choose a status from the list.")


def local_date_conditions(
    column: ColumnElement, timezone: ColumnElement, date_from: bool, date_to: bool
) -> list[ColumnElement]:
    """`column` falls on a local day from :from_date to :to_date in `timezone` (either one
    optional): conditions on bound parameters, whose values local_date_params gives.

    The UTC bounds let the index range stop early; the local dates make the filter exact.
    """
    local_day = func.date(func.timezone(timezone, column))
    conditions: list[ColumnElement] = []
    if date_from:
        conditions.append(column >= bindparam("from_utc", type_=UTCDateTime()))
        conditions.append(local_day >= bindparam("from_date", type_=Date()))
    if date_to:
        conditions.append(column < bindparam("to_utc", type_=UTCDateTime()))
        conditions.append(local_day <= bindparam("to_date", type_=Date()))
    return conditions


def local_date_params(date_from: date | None, date_to: date | None) -> dict:
    """The values of local_date_conditions' parameters for these dates."""
    params: dict = {}
    if date_from is not None:
        params["from_utc"] = datetime.combine(date_from, time.min, UTC) - _EARLIEST_OFFSET
        params["from_date"] = date_from
    if date_to is not None:
        day_after = datetime.combine(date_to + timedelta(days=1), time.min, UTC)
        params["to_utc"] = day_after + _LATEST_OFFSET
        params["to_date"] = date_to
    return params


def keyset_key() -> ColumnElement:
    """The (:key_at, :key_id) row value a (timestamptz, bigint) pair of columns is compared with."""
    return tuple_(key_at(), bindparam("key_id", type_=BigId))


def key_at() -> ColumnElement:
    """The timestamp of the keyset, alone (a plain bound beside the row comparison)."""
    return bindparam("key_at", type_=UTCDateTime())


def keyset_params(after: tuple[datetime, int] | None) -> dict:
    """The values of keyset_key's parameters for a decoded cursor (none without one)."""
    return {} if after is None else {"key_at": after[0], "key_id": after[1]}


def history_scope(
    patient_id: int, status: str | None, date_from: date | None, date_to: date | None
) -> str:
    """The cursor scope of one patient's history under one set of filters."""
    return (
        f"history:patient:{patient_id}:{status or ''}:"
        f"{date_from.isoformat() if date_from else ''}:{date_to.isoformat() if date_to else ''}"
    )


@dataclass(frozen=True, slots=True)
class Visit:
    """One appointment of a list, as shown: read-only."""

    id: int
    patient_id: int
    doctor_id: int
    starts_at: datetime
    ends_at: datetime
    status: str
    kind: str
    reason: str | None
    doctor: DoctorCard

    @property
    def is_active(self) -> bool:
        return self.status != "cancelled"


_VISIT_COLUMNS = (
    Appointment.id,
    Appointment.patient_id,
    Appointment.doctor_id,
    Appointment.starts_at,
    Appointment.ends_at,
    Appointment.status,
    Appointment.kind,
    Appointment.reason,
    *DOCTOR_CARD_COLUMNS,
)


# Built once: statements are immutable, and each page only adds its conditions.
_VISITS = (
    select(*_VISIT_COLUMNS)
    .join(Doctor, Doctor.id == Appointment.doctor_id)
    .join(Clinic, Clinic.id == Doctor.clinic_id)
)


def _for_patient() -> Select:
    return _VISITS.where(Appointment.patient_id == bindparam("patient_id"))


def _visit_page(query: Select, params: dict, limit: int, scope: str) -> Page[Visit]:
    """A page of the query's rows (limit + 1 read, for the next cursor) as Visits; a doctor
    seen twice on a page is one DoctorCard."""
    cards = DoctorCards()
    rows = [
        Visit(*row[:8], cards.card(row[8:]))
        for row in select_rows(query, {**params, "limit": limit + 1}).all()
    ]
    return page_from_rows(rows, limit, scope, lambda row: (row.starts_at, row.id))


def appointment_history(
    patient_id: int,
    *,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    status: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    before: datetime | None = None,
    since: datetime | None = None,
) -> Page[Visit]:
    """A page of a patient's appointments, newest first, with doctor and clinic: one query.

    `before` and `since` bound the walk in time (the portal's "last 6 months" view) without
    changing which list a cursor belongs to. Raises BadLimit, BadCursor or InvalidFilter.
    """
    limit = parse_limit(limit)
    check_status(status)
    check_date_range(date_from, date_to)
    scope = history_scope(patient_id, status, date_from, date_to)
    after = decode_time_id_cursor(scope, cursor)
    query = _history_statement(
        status is not None,
        date_from is not None,
        date_to is not None,
        before is not None,
        since is not None,
        after is not None,
    )
    params = {
        "patient_id": patient_id,
        "status": status,
        "before": before,
        "since": since,
        **local_date_params(date_from, date_to),
        **keyset_params(after),
    }
    return _visit_page(query, params, limit, scope)


# Each page's statement is built once per shape (which filters it has) and then only given
# parameters: building a statement and computing its cache key anew cost far more CPU than the
# query itself (about 0.8 ms a page here), and a statement object keeps its cache key.


@functools.cache
def _history_statement(
    status: bool, date_from: bool, date_to: bool, before: bool, since: bool, after: bool
) -> Select:
    """Newest first, on (:patient_id, ...) with the filters named; :limit rows."""
    query = _for_patient()
    if status:
        query = query.where(Appointment.status == bindparam("status"))
    query = query.where(
        *local_date_conditions(Appointment.starts_at, Clinic.timezone, date_from, date_to)
    )
    if before:
        query = query.where(Appointment.starts_at < bindparam("before", type_=UTCDateTime()))
    if since:
        query = query.where(Appointment.starts_at >= bindparam("since", type_=UTCDateTime()))
    if after:
        # A row comparison, so PostgreSQL reads it as one index condition on (starts_at, id);
        # the plain bound beside it lets a table partitioned by month skip the newer months.
        query = query.where(
            tuple_(Appointment.starts_at, Appointment.id) < keyset_key(),
            Appointment.starts_at <= key_at(),
        )
    return query.order_by(Appointment.starts_at.desc(), Appointment.id.desc()).limit(
        bindparam("limit")
    )


def history_cursor_after(
    patient_id: int,
    appointment: Appointment | Visit,
    *,
    status: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> str:
    """A cursor that continues the history after `appointment` (past a `since` bound)."""
    scope = history_scope(patient_id, status, date_from, date_to)
    return encode_cursor(scope, (appointment.starts_at, appointment.id))


def upcoming_visits(
    patient_id: int,
    *,
    now: datetime,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    status: str | None = None,
) -> Page[Visit]:
    """A page of the appointments starting from now on, soonest first (of one status, or any):
    one query."""
    limit = parse_limit(limit)
    scope = f"upcoming:patient:{patient_id}:{status or ''}"
    after = decode_time_id_cursor(scope, cursor)
    query = _upcoming_statement(status is not None, after is not None)
    params = {
        "patient_id": patient_id,
        "now": now,
        "status": status,
        **keyset_params(after),
    }
    return _visit_page(query, params, limit, scope)


@functools.cache
def _upcoming_statement(status: bool, after: bool) -> Select:
    """Soonest first from :now, on (:patient_id, ...) with the filters named; :limit rows."""
    query = _for_patient().where(Appointment.starts_at >= bindparam("now", type_=UTCDateTime()))
    if status:
        query = query.where(Appointment.status == bindparam("status"))
    if after:
        query = query.where(
            tuple_(Appointment.starts_at, Appointment.id) > keyset_key(),
            Appointment.starts_at >= key_at(),
        )
    return query.order_by(Appointment.starts_at, Appointment.id).limit(bindparam("limit"))


def months_before(moment: datetime, months: int) -> datetime:
    """The same wall-clock instant `months` calendar months earlier (31 Aug - 6 → 28/29 Feb)."""
    month_index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(month_index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def _sqlite_timezone(zone: str, value: str | None) -> str | None:
    """timezone(zone, utc_timestamp) for SQLite, which stores naive UTC text."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value).replace(tzinfo=UTC).astimezone(ZoneInfo(zone))
    return moment.replace(tzinfo=None).isoformat(sep=" ")


@event.listens_for(Engine, "connect")
def _sqlite_functions(dbapi_connection, connection_record):
    """The embedded SQLite default gets PostgreSQL's timezone(zone, timestamp) for date filters."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        dbapi_connection.create_function("timezone", 2, _sqlite_timezone, deterministic=True)
