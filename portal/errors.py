"""App-wide error handlers: JSON for the API, a fragment for htmx, a page for the rest."""

import logging

from flask import Flask, jsonify, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from redis.exceptions import RedisError
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
        log.error("Redis unavailable: %s", exc)
        return error_response(503)

    @app.errorhandler(OperationalError)
    def database_down(exc: OperationalError):
        log.error("database unavailable: %s", exc.orig)
        _discard_failed_transaction()
        return error_response(503)

    @app.errorhandler(InternalServerError)
    def server_error(exc: InternalServerError):
        # Errors raised while opening or saving the session arrive here wrapped.
        original = getattr(exc, "original_exception", None)
        if isinstance(original, RedisError | OperationalError):
            log.error("backing service unavailable: %s", original)
            _discard_failed_transaction()
            return error_response(503)
        return error_response(500)


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
