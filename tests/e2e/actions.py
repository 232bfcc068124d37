"""What users do in the browser, in the words of the pages: labels, roles and visible text."""

import re

from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from portal.config import TestConfig

PASSWORD = TestConfig.DEMO_PASSWORD
HTMX_IDLE = """() => !document.querySelector(
    '.htmx-request, .htmx-settling, .htmx-swapping, .htmx-added')"""


def sign_in(page: Page, email: str, checkpoint, password: str = PASSWORD) -> None:
    """Sign in through the form (checked like every page) and wait for the role's first page."""
    page.goto("/login")
    checkpoint(page, "sign in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).not_to_have_url(re.compile(r"/login"))
    wait_for_htmx(page)


def wait_for_htmx(page: Page) -> None:
    """Until no htmx request, swap or settle is under way."""
    page.wait_for_function(HTMX_IDLE)


def search(page: Page, specialization: str, city: str, date_from: str | None = None) -> None:
    """Fill the search form and show the results (an htmx request into the results area)."""
    page.get_by_label("Specialization").select_option(specialization)
    page.get_by_label("City").select_option(city)
    if date_from:
        page.get_by_label("From").fill(date_from)
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#results .doctor-result").first).to_be_visible()
    wait_for_htmx(page)


def doctor_card(page: Page, doctor_name: str) -> Locator:
    """One doctor's result card on the search page."""
    return page.locator("article.doctor-result").filter(
        has=page.get_by_role("heading", name=doctor_name, exact=True)
    )


def slot_buttons(
    scope: Page | Locator, label_start: str = "Book ", include_hidden=False
) -> Locator:
    """Slot buttons whose accessible name starts with label_start ("Book Tue 01 Dec 2026, 09:00");
    include_hidden also finds those folded away under "N more times"."""
    return scope.get_by_role(
        "button", name=re.compile("^" + re.escape(label_start)), include_hidden=include_hidden
    )


def focused_description(page: Page) -> str:
    return page.evaluate(
        """() => { const el = document.activeElement;
                   return el ? el.outerHTML.slice(0, 160) : 'nothing'; }"""
    )


FOCUS_IS_VISIBLE = """el => {
    // A focus ring: an outline, or a box-shadow with some colour and some size.
    const style = getComputedStyle(el);
    const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
    const ring = style.boxShadow !== 'none' && style.boxShadow.split(/,(?![^(]*\\))/).some(shadow => {
        const color = shadow.match(/rgba?\\(([^)]*)\\)/);
        const parts = color ? color[1].split(',') : [];
        const alpha = parts.length === 4 ? parseFloat(parts[3]) : 1;
        const sizes = (shadow.replace(/rgba?\\([^)]*\\)/, '').match(/-?[\\d.]+px/g) || [])
            .map(parseFloat);
        return alpha > 0 && sizes.some(size => size !== 0);
    });
    return el.matches(':focus-visible') && (outline || ring);
}"""


def tab_to(page: Page, target: Locator, limit: int = 120) -> int:
    """Press Tab until `target` has the keyboard focus, and the focus can be seen (a ring or
    an outline, WCAG 2.4.7); how many presses it took."""
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        if target.evaluate("el => el === document.activeElement"):
            # The ring fades in (a CSS transition): wait for it rather than catch it half-drawn.
            try:
                page.wait_for_function(
                    f"() => ({FOCUS_IS_VISIBLE})(document.activeElement)", timeout=2000
                )
            except PlaywrightTimeoutError:
                raise AssertionError(f"no visible focus ring on {target}") from None
            return presses
    raise AssertionError(
        f"{limit} presses of Tab never reached {target}; focus is on {focused_description(page)}"
    )


def page_is_no_wider_than_the_screen(page: Page) -> bool:
    """True when nothing makes the page scroll sideways (tables scroll inside their own box)."""
    return page.evaluate(
        "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )
