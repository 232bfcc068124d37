"""Browser tests: Playwright drives Debian's Chromium against the app served from a thread.

The app is the session's `app` (tests/conftest.py: its own PostgreSQL database, the real
Redis), served by werkzeug on a free port, so tests create data with the gen_* factories and
the browser sees it. Nothing is downloaded: the browser is /usr/bin/chromium (RECIPES.md),
and a missing browser fails these tests, in CI and everywhere else; it never skips them.

Every screen a journey reaches goes through `checkpoint`: axe-core (vendored) must find no
serious or critical violation, and a screenshot is saved under tests/artifacts/screens/. Run
with --readme-screenshots to also refresh the README's images in docs/screenshots/
(`make screenshots`). A test fails if its pages navigated somewhere no checkpoint looked at.
"""

import json
import os
import re
import shutil
import threading
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page
from werkzeug.serving import make_server

from tests.e2e.actions import wait_for_htmx

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE_SOURCE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text(encoding="utf-8")
ARTIFACTS = ROOT / "tests" / "artifacts"
SCREENS = ARTIFACTS / "screens"
README_SCREENSHOTS = ROOT / "docs" / "screenshots"
BLOCKING_IMPACTS = {"serious", "critical"}
RUN_AXE = """async () => {
    const results = await axe.run(document, {resultTypes: ['violations']});
    return results.violations.map(v => ({
        id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
        targets: v.nodes.map(n => n.target.join(' ')).slice(0, 10),
    }));
}"""


def pytest_addoption(parser):
    parser.addoption(
        "--readme-screenshots",
        action="store_true",
        help="also write the README's screenshots to docs/screenshots/",
    )


def pytest_configure(config):
    # pytest-playwright 0.10 warns about its own fixture (RECIPES.md): not ours to fix.
    config.addinivalue_line("filterwarnings", "ignore::pytest.PytestRemovedIn10Warning")


# --- The browser and the server -------------------------------------------------------------


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's Chromium with the flags that work here; no browser, no run (never a skip)."""
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"No browser at {CHROMIUM}: install Debian's (`apt-get install -y chromium`) or set "
            "CHROMIUM_PATH. The browser tests never skip, in CI or elsewhere.",
            pytrace=False,
        )
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": CHROMIUM_ARGS,
        "headless": True,
    }


@pytest.fixture(scope="session")
def live_server(app):
    """The test app on 127.0.0.1 and a free port, served from a thread for the whole run."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def base_url(live_server):
    """page.goto("/login") goes to the live server."""
    return live_server


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {
        **browser_context_args,
        "locale": "en-US",
        "viewport": {"width": 1280, "height": 800},
    }


# --- Accessibility, screenshots, and "every page was looked at" ------------------------------


class AxeFindings:
    """Every violation axe reported in the run, whatever its impact, for the report."""

    def __init__(self):
        self.by_rule: dict[tuple[str, str], dict] = {}

    def add(self, where: str, violations: list[dict]) -> None:
        for violation in violations:
            key = (violation["id"], violation["impact"] or "")
            entry = self.by_rule.setdefault(key, {**violation, "pages": []})
            if where not in entry["pages"]:
                entry["pages"].append(where)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(list(self.by_rule.values()), indent=2), encoding="utf-8")


@pytest.fixture(scope="session")
def axe_findings():
    findings = AxeFindings()
    yield findings
    findings.write(ARTIFACTS / "axe-findings.json")


def run_axe(page: Page) -> list[dict]:
    """axe-core's violations on the page as it is now (injected once per document)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        # Evaluated through the DevTools protocol, so the portal's CSP (no inline scripts)
        # stays on for the test and still applies to everything the page itself does.
        page.evaluate(AXE_SOURCE)
    return page.evaluate(RUN_AXE)


def describe(violations: list[dict]) -> str:
    return "\n".join(
        f"  [{v['impact']}] {v['id']}: {v['help']} at {', '.join(v['targets'])}" for v in violations
    )


@pytest.fixture
def axe(axe_findings):
    """axe(page, where): no serious or critical violation on the page as it is now."""

    def check(page: Page, where: str) -> list[dict]:
        violations = run_axe(page)
        axe_findings.add(where, violations)
        blocking = [v for v in violations if v["impact"] in BLOCKING_IMPACTS]
        assert not blocking, f"axe-core on {where} ({page.url}):\n{describe(blocking)}"
        return violations

    return check


class Screenshots:
    """Numbered screenshots of one test under tests/artifacts/screens/<test>/."""

    def __init__(self, test_name: str, readme: bool):
        self.folder = SCREENS / test_name
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.readme = readme
        self.count = 0

    def save(self, page: Page, name: str, readme_name: str | None = None) -> Path:
        self.count += 1
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        path = self.folder / f"{self.count:02d}-{slug}.png"
        page.screenshot(path=str(path), full_page=True)
        if readme_name and self.readme:
            # The README shows what a visitor sees first: the window, not the whole page.
            README_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(README_SCREENSHOTS / f"{readme_name}.png"))
        return path


@pytest.fixture
def screenshot(request):
    """screenshot(page, name, readme_name=None): save the screen; README's too when asked."""
    shots = Screenshots(request.node.originalname, request.config.getoption("--readme-screenshots"))
    return shots.save


class Visits:
    """The paths each page of a test navigated to, and the paths a checkpoint looked at."""

    def __init__(self):
        self.navigated: dict[str, list[str]] = defaultdict(list)
        self.checked: set[str] = set()

    def track(self, page: Page) -> None:
        def navigated(frame):
            if frame == page.main_frame and frame.url.startswith("http"):
                path = urlsplit(frame.url).path
                if path not in self.navigated:
                    self.navigated[path].append(frame.url)

        page.on("framenavigated", navigated)

    def unchecked(self) -> dict[str, list[str]]:
        return {path: urls for path, urls in self.navigated.items() if path not in self.checked}


@pytest.fixture
def visits(request):
    tracked = Visits()
    failures_before = request.session.testsfailed
    yield tracked
    if request.session.testsfailed > failures_before:
        return  # the test failed already; its own failure is the one worth reading
    missing = tracked.unchecked()
    assert not missing, f"pages visited without an accessibility checkpoint: {missing}"


@pytest.fixture
def new_context(new_context, visits):
    """pytest-playwright's contexts, each of whose pages is tracked by `visits`."""

    def factory(**kwargs):
        context = new_context(**kwargs)
        context.on("page", visits.track)
        return context

    return factory


@pytest.fixture
def checkpoint(axe, screenshot, visits):
    """checkpoint(page, name): once htmx is idle, axe finds nothing serious; a screenshot."""

    def check(page: Page, name: str, readme: str | None = None) -> None:
        page.wait_for_load_state()
        wait_for_htmx(page)
        axe(page, name)
        screenshot(page, name, readme)
        visits.checked.add(urlsplit(page.url).path)

    return check
