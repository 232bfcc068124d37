"""Errors of the JSON API: one shape, `{"error": {"code", "message", "fields"}}`, for all of them.

Services raise their own exceptions (NotAllowed, BookingError, BadCursor...); the handlers
here turn each into its status and stable code, so views only call services. (The history
and records services' own exceptions are handled beside their views, in patients.py.)
"""

from flask import Blueprint
from pydantic import ValidationError

from portal.errors import error_response
from portal.services.authz import NotAllowed
from portal.services.booking import BookingError
from portal.services.pagination import BadCursor, BadLimit
from portal.services.search import SearchError
from portal.services.tokens import InvalidToken
from portal.services.video_rooms import RoomNotReady


class ApiError(Exception):
    """An error answered as it is: status, stable code, message and the fields at fault."""

    def __init__(self, status: int, code: str, message: str, fields: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or {}


def not_found(what: str) -> ApiError:
    """404 for an id that does not exist."""
    return ApiError(404, "not_found", f"There is no such {what}.")


def validation_fields(error: ValidationError) -> dict[str, str]:
    """pydantic's errors as input name → message (the first message of each input).

    Bodies and query strings are flat, so the name is the first part of pydantic's location;
    the rest names a member of a union, which the client never wrote.
    """
    fields: dict[str, str] = {}
    for item in error.errors(include_url=False, include_input=False):
        name = str(item["loc"][0]) if item["loc"] else "body"
        fields.setdefault(name, item["msg"].removeprefix("Value error, "))
    return fields


def _unauthenticated(error: InvalidToken):
    response = error_response(401, error.message, error.code)
    response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response


def init_api_errors(bp: Blueprint) -> None:
    """Register the API's handlers on its blueprint."""
    bp.register_error_handler(
        ApiError, lambda e: _with_auth_header(error_response(e.status, e.message, e.code, e.fields))
    )
    bp.register_error_handler(InvalidToken, _unauthenticated)
    bp.register_error_handler(
        NotAllowed, lambda e: error_response(403, "You are not allowed to do this.", "forbidden")
    )
    bp.register_error_handler(BookingError, lambda e: error_response(e.status, e.message, e.code))
    bp.register_error_handler(RoomNotReady, lambda e: error_response(e.status, e.message, e.code))
    bp.register_error_handler(
        BadCursor,
        lambda e: error_response(
            400,
            "The cursor is not valid for this list; start again from the first page.",
            "bad_cursor",
            {"cursor": "not a cursor of this list"},
        ),
    )
    bp.register_error_handler(
        BadLimit, lambda e: error_response(422, str(e), "invalid", {"limit": str(e)})
    )
    bp.register_error_handler(
        SearchError, lambda e: error_response(422, e.message, "invalid", {e.field: e.message})
    )


def _with_auth_header(response):
    """A 401 says how to authenticate (RFC 6750)."""
    if response.status_code == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response
