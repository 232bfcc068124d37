"""The API's blueprint: every resource module adds its routes to this one object."""

from flask import Blueprint

from portal.api.errors import init_api_errors

bp = Blueprint("api", __name__, url_prefix="/api")
init_api_errors(bp)
