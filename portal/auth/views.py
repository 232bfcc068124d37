"""Sign-up, sign-in and sign-out pages."""

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, request, url_for
from flask_login import current_user

from portal.auth.access import role_required
from portal.auth.forms import ChangePasswordForm, LoginForm, RegisterForm
from portal.auth.sessions import end_session, home_endpoint_for, start_session
from portal.extensions import limiter
from portal.htmx import render
from portal.models import ROLES, utcnow
from portal.services.accounts import (
    EmailTaken,
    PasswordRefused,
    authenticate,
    change_password,
    normalize_email,
    register_patient,
)

bp = Blueprint("auth", __name__)

BAD_CREDENTIALS = "Email or password is incorrect."


def _account_key() -> str:
    """Throttle key for one account, whether or not it exists."""
    return "account:" + normalize_email(request.form.get("email", ""))[:254]


def _failed(response) -> bool:
    """Only failed sign-ins count against the per-account limit."""
    return response.status_code != 303


def _safe_next(target: str | None) -> str | None:
    """A relative path on this site, or None (no open redirects)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_ADDRESS"], methods=["POST"])
@limiter.limit(
    lambda: current_app.config["LOGIN_LIMIT_PER_ACCOUNT"],
    key_func=_account_key,
    methods=["POST"],
    deduct_when=_failed,
)
def login():
    """Sign in with email and password; one answer whether or not the account exists."""
    if current_user.is_authenticated:
        return redirect(url_for(home_endpoint_for(current_user)))
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate(form.email.data, form.password.data)
        if user is not None and start_session(user.id):
            target = _safe_next(request.args.get("next")) or url_for(home_endpoint_for(user))
            return redirect(target, code=303)
        form.form_errors.append(BAD_CREDENTIALS)
    status = 200 if request.method == "GET" else 422 if form.errors or form.form_errors else 200
    return render("auth/login.html", form=form), status


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["REGISTER_LIMIT_PER_ADDRESS"], methods=["POST"])
def register():
    """Patient sign-up: email, full name, phone and password."""
    if current_user.is_authenticated:
        return redirect(url_for(home_endpoint_for(current_user)))
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            user = register_patient(
                form.email.data, form.password.data, form.full_name.data, form.phone.data
            )
        except EmailTaken:
            form.email.errors.append("An account with this email exists already. Sign in instead.")
        else:
            start_session(user.id)
            flash("Welcome! Your account is ready.", "success")
            return redirect(url_for("patients.home"), code=303)
    status = 422 if request.method == "POST" else 200
    return render("auth/register.html", form=form), status


def _own_account_key() -> str:
    """Throttle key for the signed-in user's own account."""
    return f"password:{current_user.id}"


@bp.route("/account/password", methods=["GET", "POST"])
@role_required(*ROLES)
@limiter.limit(
    lambda: current_app.config["LOGIN_LIMIT_PER_ACCOUNT"],
    key_func=_own_account_key,
    methods=["POST"],
    deduct_when=_failed,
)
def change_password_page():
    """Change one's password: every other session and every API token of the user stops
    working; this browser stays signed in with a fresh session."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            change_password(
                current_user.id, form.current_password.data, form.password.data, utcnow()
            )
        except PasswordRefused as refused:
            getattr(form, refused.field).errors.append(refused.message)
        else:
            start_session(current_user.id)
            flash("Your password is changed. Other sessions and the app are signed out.", "success")
            return redirect(url_for(home_endpoint_for(current_user)), code=303)
    status = 422 if request.method == "POST" else 200
    return render("auth/password.html", form=form), status


@bp.route("/logout", methods=["POST"])
def logout():
    """Sign out and destroy the server-side session."""
    end_session("You are signed out.")
    return redirect(url_for("auth.login"), code=303)
