"""Configuration: production refuses a default secret; the embedded default needs no services."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from portal import create_app
from portal.config import ProductionConfig

ROOT = Path(__file__).resolve().parent.parent


def test_production_refuses_the_default_secret_key():
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(ProductionConfig)


def test_production_starts_with_a_real_secret_key():
    class Configured(ProductionConfig):
        SECRET_KEY = "x" * 48

    assert create_app(Configured).config["SESSION_COOKIE_SECURE"] is True


SMOKE = r"""
from portal import create_app
app = create_app()
client = app.test_client()
page = client.get("/login")
assert page.status_code == 200, page.status_code
assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"), app.config["SQLALCHEMY_DATABASE_URI"]
import re
token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True)).group(1)
response = client.post("/login", data={"email": "patient@example.com", "password": "demo-password-2026", "csrf_token": token})
assert response.status_code == 303, response.status_code
home = client.get("/patient/")
assert home.status_code == 200 and "Upcoming visits" in home.get_data(as_text=True)
search = client.get("/patient/search?specialization=Cardiology&city=New+York").get_data(as_text=True)
link = re.search(r'href="(/patient/book\?[^"]+)"', search).group(1).replace("&amp;", "&")
confirm = client.get(link).get_data(as_text=True)
fields = dict(re.findall(r'name="(doctor_id|starts_at|csrf_token)" type="hidden" value="([^"]+)"', confirm))
booked = client.post("/patient/book", data={**fields, "kind": "in_person", "reason": "Smoke test"})
assert booked.status_code == 303, booked.status_code
again = client.post("/patient/book", data={**fields, "kind": "in_person"})
assert again.status_code == 409, again.status_code  # the same slot again: refused
history = client.get("/patient/history?status=scheduled&from=2000-01-01&to=2099-12-31")
assert history.status_code == 200 and "Smoke test" in history.get_data(as_text=True)
older = client.get("/patient/history?section=older")
assert older.status_code == 200, older.status_code
records = client.get("/patient/records?from=2000-01-01&to=2099-12-31")
assert records.status_code == 200, records.status_code
print("embedded default OK")
"""


def test_the_embedded_default_boots_seeds_and_serves_sign_in(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "PORTAL_ENV", "SECRET_KEY"}
    }
    env.update(
        PORTAL_INSTANCE_PATH=str(tmp_path), FLASK_APP="wsgi", DEMO_PASSWORD="demo-password-2026"
    )
    flask = [sys.executable, "-m", "flask"]
    for command in (["db", "upgrade"], ["seed", "demo"]):
        subprocess.run(flask + command, cwd=ROOT, env=env, check=True, capture_output=True)
    result = subprocess.run(
        [sys.executable, "-c", SMOKE], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "embedded default OK" in result.stdout
    assert (tmp_path / "portal.db").exists()
