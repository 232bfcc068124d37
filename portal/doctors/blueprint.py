"""The doctors' blueprint object, shared by the view modules that add routes to it."""

from flask import Blueprint

bp = Blueprint("doctors", __name__, url_prefix="/doctor")
