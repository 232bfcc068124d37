"""Accounts: patient registration, sign-in and password changes."""

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models import Patient, User
from portal.services.passwords import hash_password, password_problem, verify_password
from portal.services.tokens import revoke_all_for_user


class EmailTaken(Exception):
    """An account with this email exists already."""


def normalize_email(email: str) -> str:
    """Emails compare case-insensitively; store them lower-cased and trimmed."""
    return email.strip().lower()


def find_user_by_email(email: str) -> User | None:
    """The user with this email, or None."""
    return db.session.scalar(select(User).where(User.email == normalize_email(email)))


def register_patient(email: str, password: str, full_name: str, phone: str | None) -> User:
    """Create a patient's sign-in and profile in one transaction; EmailTaken if it exists."""
    email = normalize_email(email)
    if db.session.scalar(select(func.count()).select_from(User).where(User.email == email)):
        raise EmailTaken(email)
    user = User(email=email, password_hash=hash_password(password), role="patient")
    user.patient = Patient(full_name=full_name.strip(), phone=phone or None)
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError as exc:  # a concurrent registration of the same email won
        db.session.rollback()
        raise EmailTaken(email) from exc
    return user


class PasswordRefused(ValueError):
    """A password change that cannot be made; `field` names the input at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def change_password(user_id: int, current: str, new: str, now: datetime) -> None:
    """Replace a user's password, in one transaction: the current password must match and the
    new one pass the policy and differ from it. Every refresh token of the user is revoked, and
    every access token and portal session from before `now` stops working (each is checked
    against password_changed_at); the caller starts the current session anew.
    """
    user = db.session.get(User, user_id, with_for_update={"of": User})
    if user is None or not user.active or not verify_password(user.password_hash, current):
        db.session.rollback()
        raise PasswordRefused("current_password", "That is not your current password.")
    problem = password_problem(new, user.email)
    if problem is None and verify_password(user.password_hash, new):
        problem = "Choose a password other than your current one."
    if problem:
        db.session.rollback()
        raise PasswordRefused("password", problem)
    user.password_hash = hash_password(new)
    user.password_changed_at = now
    revoke_all_for_user(user.id, now, commit=False)
    db.session.commit()


def authenticate(email: str, password: str) -> User | None:
    """The active user with these credentials, or None (same time whether or not it exists)."""
    user = find_user_by_email(email)
    if not verify_password(user.password_hash if user else None, password):
        return None
    if user is None or not user.active:
        return None
    return user
