"""Bearer authentication of the API: the access token names the user; roles gate the views.

Which object a user may touch is decided by the authorization layer (services/authz.py), not
here: these decorators only answer 401 without a valid access token and 403 for a role that
never may use the endpoint.
"""

from functools import wraps

from flask import g, request

from portal.api.errors import ApiError
from portal.services.authz import Principal
from portal.services.tokens import principal_for_access_token


def bearer_required(*roles: str):
    """Require a valid access token (401) of one of `roles` (403); any role when none given."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise ApiError(
                    401, "unauthenticated", "Send an access token: Authorization: Bearer <token>."
                )
            user = principal_for_access_token(token.strip())
            if roles and user.role not in roles:
                raise ApiError(403, "forbidden", "Your role may not use this endpoint.")
            g.api_user = user
            return view(*args, **kwargs)

        return wrapped

    return decorator


def api_user() -> Principal:
    """Who the current request's access token was issued to (ids and role, not the ORM User)."""
    return g.api_user
