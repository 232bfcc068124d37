"""App-wide error handlers: JSON for the API, a fragment for htmx, a page for the rest."""

import logging

from flask import Flask, jsonify, make_response, render_template, request, session
from flask_wtf.csrf import CSRFError
from redis.exceptions import OutOfMemoryError, RedisError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError

from portal.htmx import is_partial

log = logging.getLogger(__name__)

CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "throttled",
    500: "server_error",
    503: "unavailable",
}

MESSAGES = {
    400: "The request could not be understood.",
    401: "Please sign in.",
    403: "You are not allowed to see this.",
    404: "There is nothing here.",
    405: "This method is not allowed here.",
    429: "Too many attempts. Please wait a few minutes and try again.",
    500: "Something went wrong on our side. It has been logged.",
    503: "The service is briefly unavailable. Please try again in a minute.",
}
# Redis under noeviction refuses writes once full (OOM): sessions and throttling cannot be saved.
STORE_FULL_MESSAGE = "The portal cannot save sign-ins just now. Please try again in a few minutes."
# A write request whose session could not be saved after its view ran may already be done.
MAYBE_DONE_HINT = " If you were booking or cancelling, check your visits first: it may be done."

_SESSION_STORE_ERROR = "portal.session_store_error"


def wants_json() -> bool:
    """API requests get JSON errors."""
    return request.path.startswith("/api/")


def error_response(status: int, message: str | None = None, code: str | None = None, fields=None):
    """One error, in the shape the caller understands."""
    message = message or MESSAGES.get(status, "Error.")
    code = code or CODES.get(status, "error")
    if wants_json():
        body = {"error": {"code": code, "message": message, "fields": fields or {}}}
        response = jsonify(body)
        response.status_code = status
    else:
        if is_partial():
            template = "errors/_error.html"
        elif status == 503:
            template = "errors/unavailable.html"  # renders without the database or Redis
        else:
            template = "errors/error.html"
        response = make_response(render_template(template, status=status, message=message), status)
    if status == 503:
        response.headers["Retry-After"] = "30"
    return response


def init_error_handlers(app: Flask) -> None:
    """Register the handlers."""

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        response = error_response(exc.code or 500, _public_description(exc))
        if exc.code == 429 and getattr(exc, "retry_after", None):
            response.headers["Retry-After"] = str(exc.retry_after)
        for key, value in exc.get_headers() or []:
            if key.lower() in {"retry-after", "allow", "www-authenticate"}:
                response.headers[key] = value
        return response

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        return error_response(
            400, "The form expired or was not sent from this site. Reload the page and try again."
        )

    @app.errorhandler(RedisError)
    def redis_down(exc: RedisError):
        return _redis_error_response(exc)

    @app.errorhandler(OperationalError)
    def database_down(exc: OperationalError):
        log.error("database unavailable: %s", exc.orig)
        _discard_failed_transaction()
        return error_response(503)

    @app.errorhandler(InternalServerError)
    def server_error(exc: InternalServerError):
        # Errors raised while opening or saving the session arrive here wrapped.
        original = getattr(exc, "original_exception", None)
        if isinstance(original, RedisError):  # saving the session, after the view ran
            session.modified = False  # so Flask does not try (and fail, and log) once more
            return _redis_error_response(original, after_view=True)
        if isinstance(original, OperationalError):
            log.error("backing service unavailable: %s", original)
            _discard_failed_transaction()
            return error_response(503)
        return error_response(500)

    guard_session_store(app)


def _redis_error_response(exc: RedisError, after_view: bool = False):
    """503 for any Redis failure, with a message that says what the user can do."""
    _discard_failed_transaction()
    if isinstance(exc, OutOfMemoryError):
        log.error(
            "Redis is full (maxmemory reached under noeviction) and refuses writes: %s; "
            "raise maxmemory or free memory (deploy/redis.conf)",
            exc,
        )
        message = STORE_FULL_MESSAGE
    else:
        log.error("Redis unavailable: %s", exc)
        message = MESSAGES[503]
    if after_view and request.method not in ("GET", "HEAD"):
        message += MAYBE_DONE_HINT
    return error_response(503, message)


class SessionStoreGuard:
    """The app's session interface, except that a session store that cannot be read gives a
    null session and the error is raised again as the request starts.

    Flask opens the session before any handler can answer; if that raised, the error page
    itself would need the session (Flask-Login's current_user) and the signed-in user would
    get a bare 500. With the null session, the ordinary RedisError handler answers the 503,
    before any view runs (so nothing was done), and nothing is saved afterwards.
    """

    def __init__(self, inner):
        self._inner = inner

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def open_session(self, app: Flask, request_):
        try:
            return self._inner.open_session(app, request_)
        except RedisError as error:
            request_.environ[_SESSION_STORE_ERROR] = error
            return None  # Flask makes a null session


def guard_session_store(app: Flask) -> None:
    """Wrap the session interface (see SessionStoreGuard); static files and the health
    endpoints, which never use the session, still answer."""
    app.session_interface = SessionStoreGuard(app.session_interface)

    def raise_session_store_error() -> None:
        error = request.environ.get(_SESSION_STORE_ERROR)
        if error is not None and request.endpoint != "static" and request.blueprint != "health":
            raise error

    # First of all before_request functions: throttling and the session timeouts come after.
    app.before_request_funcs.setdefault(None, []).insert(0, raise_session_store_error)


def _discard_failed_transaction() -> None:
    """Roll back the broken transaction so the pool can replace the dead connection."""
    from portal.extensions import db

    try:
        db.session.rollback()
    except Exception as error:  # the connection is gone: nothing left to roll back
        log.debug("rollback after a database error failed: %s", error)


def _public_description(exc: HTTPException) -> str | None:
    """Our own messages for the common statuses; werkzeug's are written for developers."""
    if exc.code in (400, 409, 422) and exc.description and exc.description != type(exc).description:
        return exc.description
    return MESSAGES.get(exc.code or 500, exc.description)
