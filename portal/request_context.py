"""A request id for every request: the caller's X-Request-ID when it is sane, else a new uuid4.

It is kept in `flask.g`, echoed in the response's X-Request-ID header, and written into every
audit row, so one line of a load balancer's log leads to the audit trail of that request.
"""

import re
import uuid

from flask import Flask, Response, g, has_request_context, request

REQUEST_ID_HEADER = "X-Request-ID"

# audit_log.request_id is VARCHAR(64); anything else (spaces, quotes, newlines) is not an id
# we want in logs or in the audit trail.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


def sane_request_id(raw: str | None) -> str | None:
    """The header's value if it looks like an id (1-64 of letters, digits, . _ : -), else None."""
    if raw and _SANE_REQUEST_ID.fullmatch(raw):
        return raw
    return None


def current_request_id() -> str | None:
    """The id of the request being handled (assigned on first use), or None outside a request."""
    if not has_request_context():
        return None
    if "request_id" not in g:
        g.request_id = sane_request_id(request.headers.get(REQUEST_ID_HEADER)) or str(uuid.uuid4())
    return g.request_id


def init_request_context(app: Flask) -> None:
    """Assign the id before every request and echo it on every response.

    Assignment is also lazy (current_request_id), so a response made before this hook ran,
    such as another before_request answering 429, still carries an id.
    """

    @app.before_request
    def assign_request_id() -> None:
        current_request_id()

    @app.after_request
    def echo_request_id(response: Response) -> Response:
        response.headers[REQUEST_ID_HEADER] = current_request_id()
        return response
