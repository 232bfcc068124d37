"""The landing page: signed-in users go to their role's first page."""

from flask import Blueprint, redirect, url_for
from flask_login import current_user

from portal.auth.sessions import home_endpoint_for
from portal.htmx import render

bp = Blueprint("main", __name__)


@bp.route("/")
def index():
    """Signed in: the role's first page. Otherwise: what the portal is, and the way in."""
    if current_user.is_authenticated:
        return redirect(url_for(home_endpoint_for(current_user)))
    return render("main/index.html")
