"""Sign-up, sign-in, refresh and sign-out for the mobile app.

Sign-in and sign-up are throttled with the portal's limits (LOGIN_LIMIT_PER_ADDRESS,
LOGIN_LIMIT_PER_ACCOUNT for failed attempts, REGISTER_LIMIT_PER_ADDRESS) and answer the
same 401 whether or not the account exists.
"""

from flask import current_app, request

from portal.api.blueprint import bp
from portal.api.errors import ApiError
from portal.api.schemas import LoginIn, RefreshIn, RegisterIn, TokenOut
from portal.api.serializers import token_out
from portal.api.spec import answers, api_spec
from portal.extensions import limiter
from portal.services.accounts import EmailTaken, authenticate, normalize_email, register_patient
from portal.services.passwords import password_problem
from portal.services.tokens import issue_tokens, revoke_family_of, rotate_refresh_token

TAGS = ["auth"]


def _account_key() -> str:
    """Throttle key for one account, whether or not it exists."""
    body = request.get_json(silent=True)
    email = body.get("email") if isinstance(body, dict) else None
    return "account:" + normalize_email(email if isinstance(email, str) else "")[:254]


@bp.post("/auth/register")
@limiter.limit(lambda: current_app.config["REGISTER_LIMIT_PER_ADDRESS"])
@api_spec.validate(json=RegisterIn, resp=answers(400, 409, 422, 429, HTTP_201=TokenOut), tags=TAGS)
def register():
    """Patient sign-up; answers signed in, with the same body as login."""
    body: RegisterIn = request.context.json
    problem = password_problem(body.password, body.email)
    if problem:
        raise ApiError(422, "invalid", problem, {"password": problem})
    try:
        user = register_patient(body.email, body.password, body.full_name, body.phone)
    except EmailTaken:
        raise ApiError(
            409,
            "email_taken",
            "An account with this email exists already. Sign in instead.",
            {"email": "taken"},
        ) from None
    return token_out(issue_tokens(user)), 201


@bp.post("/auth/login")
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_ADDRESS"])
@limiter.limit(
    lambda: current_app.config["LOGIN_LIMIT_PER_ACCOUNT"],
    key_func=_account_key,
    deduct_when=lambda response: response.status_code == 401,
)
@api_spec.validate(json=LoginIn, resp=answers(400, 401, 422, 429, HTTP_200=TokenOut), tags=TAGS)
def login():
    """Sign in with email and password: an access token (1 h) and a refresh token (7 days)."""
    body: LoginIn = request.context.json
    user = authenticate(body.email, body.password)
    if user is None:
        raise ApiError(401, "invalid_credentials", "Email or password is incorrect.")
    return token_out(issue_tokens(user))


@bp.post("/auth/refresh")
@api_spec.validate(json=RefreshIn, resp=answers(400, 401, 422, HTTP_200=TokenOut), tags=TAGS)
def refresh():
    """Trade a refresh token for a new pair; it is spent, and presenting it again revokes them all."""
    body: RefreshIn = request.context.json
    return token_out(rotate_refresh_token(body.refresh_token))


@bp.post("/auth/logout")
@api_spec.validate(json=RefreshIn, resp=answers(400, 422, HTTP_204=None), tags=TAGS)
def logout():
    """Sign out: the refresh token's family is revoked (204 also when it was already)."""
    body: RefreshIn = request.context.json
    revoke_family_of(body.refresh_token)
    return "", 204
