"""Security headers on a page, an htmx fragment and a JSON error; cookies in production."""

import pytest

from portal import create_app
from portal.config import ProductionConfig

EXPECTED = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",
}


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/login", {}),
        ("/login", {"HX-Request": "true"}),
        ("/api/nothing-here", {}),
    ],
)
def test_every_response_carries_the_security_headers(client, path, headers):
    response = client.get(path, headers=headers)
    for name, value in EXPECTED.items():
        assert response.headers[name] == value
    csp = response.headers["Content-Security-Policy"]
    assert (
        "script-src 'self'" in csp and "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    )
    assert "frame-ancestors 'none'" in csp
    assert "Strict-Transport-Security" not in response.headers  # development is plain HTTP


def test_pages_have_no_inline_scripts(client):
    html = client.get("/login").get_data(as_text=True)
    assert "<script>" not in html and " onclick=" not in html


def test_production_sends_hsts_and_host_prefixed_secure_cookies():
    class Production(ProductionConfig):
        SECRET_KEY = "p" * 48
        SQLALCHEMY_DATABASE_URI = "sqlite://"

    response = create_app(Production).test_client().get("/login")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("__Host-session=")
    for flag in ("Secure", "HttpOnly", "SameSite=Lax", "Path=/"):
        assert flag in cookie
    assert "Domain=" not in cookie
