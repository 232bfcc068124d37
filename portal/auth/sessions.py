"""Portal sessions: Flask-Login on server-side sessions, with idle and absolute timeouts."""

import time
from dataclasses import dataclass

from flask import Flask, current_app, flash, redirect, request, session, url_for
from flask_login import UserMixin, current_user, login_user, logout_user
from sqlalchemy import func

from portal.extensions import db, login_manager
from portal.models import Doctor, Patient, User
from portal.services.authz import Principal, principal_select

AUTH_AT = "auth_at"
SEEN_AT = "seen_at"
ACTIVITY_GRANULARITY = 60  # seconds: note activity at most once a minute


def init_login(app: Flask) -> None:
    """Wire Flask-Login and the timeout check into the app."""
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = None  # the server-side session id is the protection
    app.before_request(enforce_session_timeouts)


@dataclass(frozen=True, slots=True, eq=False)
class SignedInUser(Principal, UserMixin):
    """The portal's signed-in user (current_user): the ids and role the authorization layer
    asks, and what the navigation shows. Not the ORM User: a view that needs the patient, the
    doctor or the clinic reads it by id."""

    email: str
    full_name: str | None  # the patient's or the doctor's; None for a clinic admin


# Every portal request reads its user: one row, no ORM entities, a statement built once.
_SIGNED_IN_USER = principal_select(
    User.email, func.coalesce(Patient.full_name, Doctor.full_name), User.password_changed_at
)


def signed_in_user(user_id: int, signed_in_at: float | None = None) -> SignedInUser | None:
    """The user with this id as current_user sees them, if the account exists and is active
    (and, given when the session signed in, its password has not changed since)."""
    row = db.session.connection().execute(_SIGNED_IN_USER, {"user_id": user_id}).first()
    if row is None or not row.active:
        return None
    if signed_in_at is not None and signed_in_at < row.password_changed_at.timestamp():
        return None
    return SignedInUser(*row[:8])


@login_manager.user_loader
def load_user(user_id: str) -> SignedInUser | None:
    """The signed-in user, if the account still exists and is active, and the session is newer
    than the last password change (a change signs every other session out)."""
    if not user_id.isdigit() or len(user_id) > 18:
        return None
    return signed_in_user(int(user_id), signed_in_at=session.get(AUTH_AT, 0))


def start_session(user_id: int) -> bool:
    """Sign in: a fresh session id (no fixation), then the timestamps the timeouts read.

    False, and nobody signed in, when the account is gone or deactivated by now (an admin may
    deactivate it between the password check and this)."""
    user = signed_in_user(user_id)
    session.clear()
    if user is None:
        return False
    login_user(user)
    now = time.time()
    session[AUTH_AT] = now  # to the microsecond: a password changed in the same second counts
    session[SEEN_AT] = int(now)
    current_app.session_interface.regenerate(session)
    return True


def end_session(message: str | None = None) -> None:
    """Sign out: forget the user and delete the server-side session.

    A message for the next page lives in a new session with a new id: the old id is gone.
    """
    logout_user()
    session.clear()
    if message:
        flash(message, "info")
        current_app.session_interface.regenerate(session)


def enforce_session_timeouts():
    """Sign out after 30 idle minutes or 12 hours in all; otherwise note the activity."""
    if request.endpoint == "static" or "_user_id" not in session:
        return None
    now = int(time.time())
    idle = current_app.config["SESSION_IDLE_TIMEOUT"].total_seconds()
    absolute = current_app.config["SESSION_ABSOLUTE_TIMEOUT"].total_seconds()
    if now - session.get(SEEN_AT, 0) > idle or now - session.get(AUTH_AT, 0) > absolute:
        end_session("Your session has expired. Please sign in again.")
        return redirect(
            url_for("auth.login", next=request.full_path if request.method == "GET" else None)
        )
    if now - session.get(SEEN_AT, 0) >= ACTIVITY_GRANULARITY:
        session[SEEN_AT] = now  # saving the session also renews its TTL in the store
    return None


def home_endpoint_for(user) -> str:
    """The first page of each role."""
    if not current_user.is_authenticated:
        return "auth.login"
    return {
        "patient": "patients.home",
        "doctor": "doctors.today",
        "clinic_admin": "clinics.home",
    }[user.role]
