"""The one place that decides between a full page and an htmx fragment.

Views name the block to render for a partial request; they never read HX-* headers.
"""

from flask import make_response, render_template, request
from jinja2_fragments.flask import render_block


def is_partial() -> bool:
    """True for an htmx request that wants a fragment (not boosted, not a history restore)."""
    headers = request.headers
    return (
        headers.get("HX-Request") == "true"
        and headers.get("HX-Boosted") != "true"
        and headers.get("HX-History-Restore-Request") != "true"
    )


def render(template: str, block: str | None = None, **context):
    """Render the named block for a partial request, the whole page otherwise."""
    if block and is_partial():
        return respond(render_block(template, block, **context))
    return respond(render_template(template, **context))


def respond(body: str):
    """A response whose body depends on HX-Request (caches must keep the two apart)."""
    response = make_response(body)
    response.vary.add("HX-Request")
    return response
