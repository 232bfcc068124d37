"""Patient pages: the history of visits and the medical records, each as infinite scroll.

The list rendering (history_response, records_response) is parameterized by the patient and by
the endpoint that pages the list, so a doctor's "patient X's history" page can reuse it after
the same checks: `history_response(current_user, patient.id, endpoint="doctors.patient_history",
endpoint_args={"patient_id": patient.id}, heading=...)`. Both answer 403 to an actor who may
not see the patient (authz.can_see_patient; for records, the records service).
"""

import logging
from collections.abc import Callable
from datetime import date

from flask import Blueprint, Response, abort, request, url_for
from flask_login import current_user

from portal.auth.access import patient_required
from portal.database import read_only
from portal.htmx import is_partial, render
from portal.models import RECORD_TYPES, STATUSES, utcnow
from portal.services.authz import Actor, can_see_patient
from portal.services.history import (
    RECENT_MONTHS,
    InvalidFilter,
    appointment_history,
    check_date_range,
    check_status,
    history_cursor_after,
    months_before,
    parse_date_filter,
    upcoming_visits,
)
from portal.services.pagination import BadCursor, BadLimit, parse_limit
from portal.services.records import AuditFailed, NotAllowed, check_record_type, medical_records_page

log = logging.getLogger(__name__)

bp = Blueprint("history", __name__, url_prefix="/patient")

HISTORY_TEMPLATE = "history/appointments.html"
RECORDS_TEMPLATE = "history/records.html"
SECTIONS = ("recent", "upcoming", "older")
STALE_LINK = "That link is not valid any more. Please reload the page."


def _error_status() -> int:
    """400 for a page, 422 for an htmx fragment (DESIGN.md: never a 500 for bad input)."""
    return 422 if is_partial() else 400


def _refused(template: str, block: str, context: dict, error: Exception):
    """The list's page or fragment with the input's problem in it, and 400 or 422."""
    if isinstance(error, BadCursor):
        context["error"] = STALE_LINK
    else:
        context["error"] = getattr(error, "message", None) or f"The {error}."
    return render(template, block=block, **context), _error_status()


def _date_filters() -> tuple[date | None, date | None]:
    """The from/to dates of the request (YYYY-MM-DD), checked; InvalidFilter otherwise."""
    date_from = parse_date_filter(request.args.get("from"), "from")
    date_to = parse_date_filter(request.args.get("to"), "to")
    check_date_range(date_from, date_to)
    return date_from, date_to


def _page_url(endpoint: str, endpoint_args: dict, keep: tuple[str, ...]) -> Callable[..., str]:
    """A URL builder for this list that keeps the filters (and limit) of the current request."""
    kept = {name: request.args[name] for name in keep if request.args.get(name)}

    def page_url(**params) -> str:
        return url_for(endpoint, **endpoint_args, **{**kept, **params})

    return page_url


def history_response(
    actor: Actor,
    patient_id: int,
    *,
    endpoint: str,
    endpoint_args: dict | None = None,
    heading: str,
) -> Response:
    """A patient's visits: the page, or the fragment an htmx request names.

    Without filters: upcoming visits (soonest first), then the last 6 months (newest first,
    infinite scroll), then "Show older visits" page by page. With a status or dates: one list,
    newest first. 403 unless the actor may see the patient (the patient, or their doctor).
    """
    if not can_see_patient(actor, patient_id):
        abort(403)
    endpoint_args = endpoint_args or {}
    args = request.args
    context = {
        "heading": heading,
        "statuses": STATUSES,
        "args": args,
        "base_url": url_for(endpoint, **endpoint_args),
        "page_url": _page_url(endpoint, endpoint_args, ("status", "from", "to", "limit")),
        "upcoming": None,
        "past": None,
        "mode": "recent",
        "older_cursor": None,
        "since": None,
        "recent_months": RECENT_MONTHS,
        "error": None,
    }
    cursor = args.get("cursor") or None
    section = args.get("section") or "recent"
    block = "results"
    if section == "upcoming":
        block = "upcoming_rows"
    elif cursor or section == "older":
        block = "rows"
    try:
        status = args.get("status") or None
        check_status(status)
        date_from, date_to = _date_filters()
        limit = parse_limit(args.get("limit"))
        if section not in SECTIONS:
            raise InvalidFilter("section", STALE_LINK)
        context.update(
            _history_lists(patient_id, section, cursor, limit, status, date_from, date_to)
        )
    except (InvalidFilter, BadLimit, BadCursor) as error:
        return _refused(HISTORY_TEMPLATE, block, context, error)
    return render(HISTORY_TEMPLATE, block=block, **context)


def _history_lists(
    patient_id: int,
    section: str,
    cursor: str | None,
    limit: int,
    status: str | None,
    date_from: date | None,
    date_to: date | None,
) -> dict:
    """The pages one history request shows, and how the template should continue them."""
    now = utcnow()
    if section == "upcoming":
        return {"upcoming": upcoming_visits(patient_id, now=now, limit=limit, cursor=cursor)}
    if status or date_from or date_to:
        past = appointment_history(
            patient_id,
            limit=limit,
            cursor=cursor,
            status=status,
            date_from=date_from,
            date_to=date_to,
        )
        return {"past": past, "mode": "filtered"}
    since = months_before(now, RECENT_MONTHS)
    if section == "older":
        # Without a cursor the older walk starts at the 6-month line.
        before = None if cursor else since
        past = appointment_history(patient_id, limit=limit, cursor=cursor, before=before)
        return {"past": past, "mode": "older", "since": since}
    lists: dict = {"mode": "recent", "since": since}
    if not cursor:
        lists["upcoming"] = upcoming_visits(patient_id, now=now, limit=limit)
    past = appointment_history(patient_id, limit=limit, cursor=cursor, before=now, since=since)
    lists["past"] = past
    if past.next_cursor is None:
        # The recent walk ended at the 6-month line: older visits continue after its last row.
        if past.items:
            lists["older_cursor"] = history_cursor_after(patient_id, past.items[-1])
        else:
            lists["older_cursor"] = cursor
    return lists


def records_response(
    actor: Actor,
    patient_id: int,
    *,
    endpoint: str,
    endpoint_args: dict | None = None,
    heading: str,
) -> Response:
    """A patient's medical records, newest first, audited: the page or its rows fragment.

    The records service decides who may read (NotAllowed → 403) and writes the audit row.
    """
    endpoint_args = endpoint_args or {}
    args = request.args
    context = {
        "heading": heading,
        "record_types": RECORD_TYPES,
        "args": args,
        "base_url": url_for(endpoint, **endpoint_args),
        "page_url": _page_url(endpoint, endpoint_args, ("record_type", "from", "to", "limit")),
        "page": None,
        "error": None,
    }
    cursor = args.get("cursor") or None
    block = "rows" if cursor else "results"
    try:
        record_type = args.get("record_type") or None
        check_record_type(record_type)
        date_from, date_to = _date_filters()
        context["page"] = medical_records_page(
            actor,
            patient_id,
            limit=parse_limit(args.get("limit")),
            cursor=cursor,
            record_type=record_type,
            date_from=date_from,
            date_to=date_to,
        )
    except NotAllowed:
        abort(403)
    except AuditFailed:
        log.exception("medical records of patient %s not shown: audit failed", patient_id)
        abort(503)
    except (InvalidFilter, BadLimit, BadCursor) as error:
        return _refused(RECORDS_TEMPLATE, block, context, error)
    return render(RECORDS_TEMPLATE, block=block, **context)


@bp.route("/history")
@read_only
@patient_required
def appointments():
    """The signed-in patient's visits: upcoming, the last 6 months, older on request."""
    return history_response(
        current_user, current_user.patient_id, endpoint="history.appointments", heading="My visits"
    )


@bp.route("/records")
@patient_required
def records():
    """The signed-in patient's medical records, newest first."""
    return records_response(
        current_user,
        current_user.patient_id,
        endpoint="history.records",
        heading="My medical records",
    )
