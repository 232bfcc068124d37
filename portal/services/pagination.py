"""Keyset pagination: bounded limits and opaque, signed cursors.

A cursor is the sort key of the last row of a page, signed with the app's secret and a scope
that names whose list it is ("history:patient:42"), so a tampered cursor or one taken from
someone else's list is refused instead of silently paging another list.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

DEFAULT_LIMIT = 20
MAX_LIMIT = 100

T = TypeVar("T")


class BadCursor(ValueError):
    """The cursor was not made by us for this list."""


class BadLimit(ValueError):
    """The limit is not a whole number from 1 to MAX_LIMIT."""


def parse_limit(raw: Any, default: int = DEFAULT_LIMIT) -> int:
    """A page size from user input: 1 to 100, default 20; anything else is a BadLimit."""
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool):
        raise BadLimit("limit must be a whole number from 1 to 100")
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise BadLimit("limit must be a whole number from 1 to 100") from None
    if isinstance(raw, float) and raw != value:
        raise BadLimit("limit must be a whole number from 1 to 100")
    if not 1 <= value <= MAX_LIMIT:
        raise BadLimit("limit must be a whole number from 1 to 100")
    return value


def _serializer(scope: str) -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="cursor:" + scope)


def encode_cursor(scope: str, values: Sequence[Any]) -> str:
    """An opaque cursor for the sort key `values` of one list."""
    return _serializer(scope).dumps(
        [v.isoformat() if isinstance(v, datetime) else v for v in values]
    )


def decode_cursor(scope: str, token: str | None) -> list[Any] | None:
    """The sort key inside a cursor of this list; None for no cursor; BadCursor otherwise."""
    if not token:
        return None
    if len(token) > 512:
        raise BadCursor("cursor is not valid for this list")
    try:
        values = _serializer(scope).loads(token)
    except BadSignature:
        raise BadCursor("cursor is not valid for this list") from None
    if not isinstance(values, list):
        raise BadCursor("cursor is not valid for this list")
    return values


def decode_time_id_cursor(scope: str, token: str | None) -> tuple[datetime, int] | None:
    """A (timestamp, id) cursor, the shape most of our lists sort by."""
    values = decode_cursor(scope, token)
    if values is None:
        return None
    try:
        moment, row_id = values
        parsed = datetime.fromisoformat(moment)
        if parsed.tzinfo is None or not isinstance(row_id, int):
            raise ValueError
    except (TypeError, ValueError):
        raise BadCursor("cursor is not valid for this list") from None
    return parsed, row_id


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list and the cursor of the next (None on the last page)."""

    items: list[T]
    next_cursor: str | None


def page_from_rows(
    rows: Sequence[T], limit: int, scope: str, sort_key: Callable[[T], Sequence[Any]]
) -> Page[T]:
    """Cut the limit+1 rows a keyset query fetched into a page and the next cursor."""
    items = list(rows[:limit])
    more = len(rows) > limit
    return Page(items, encode_cursor(scope, sort_key(items[-1])) if more and items else None)
