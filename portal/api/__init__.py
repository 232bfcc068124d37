"""The JSON API of the mobile app, under /api: one module per resource, all on one blueprint.

Views parse (spectree and the models of schemas.py), authenticate (security.py) and call the
same services as the portal; the authorization layer and every business rule live there.
"""

from flask import jsonify

from portal.api import appointments, auth, doctors, patients, search  # noqa: F401 (routes)
from portal.api.blueprint import bp
from portal.api.spec import openapi_document

__all__ = ["bp"]


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3.1 description of this API."""
    return jsonify(openapi_document())
