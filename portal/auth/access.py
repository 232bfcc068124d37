"""Role decorators: one per role, each answering 401 (sign in) or 403 before the view runs."""

from functools import wraps

from flask import abort
from flask_login import current_user


def role_required(*roles: str):
    """Allow the view only to signed-in users with one of these roles."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                from portal.extensions import login_manager

                return login_manager.unauthorized()
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


patient_required = role_required("patient")
doctor_required = role_required("doctor")
clinic_admin_required = role_required("clinic_admin")
