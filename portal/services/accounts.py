"""Accounts: patient registration and sign-in."""

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models import Patient, User
from portal.services.passwords import hash_password, verify_password


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


def authenticate(email: str, password: str) -> User | None:
    """The active user with these credentials, or None (same time whether or not it exists)."""
    user = find_user_by_email(email)
    if not verify_password(user.password_hash if user else None, password):
        return None
    if user is None or not user.active:
        return None
    return user
