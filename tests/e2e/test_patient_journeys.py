"""A patient's journeys in a real browser: signing up, finding a doctor, booking, the history
and the records, a race for one slot, the keyboard alone and a phone-sized screen."""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.actions import (
    PASSWORD,
    doctor_card,
    page_is_no_wider_than_the_screen,
    search,
    sign_in,
    slot_buttons,
    tab_to,
    wait_for_htmx,
)
from tests.e2e.data import cardiologists_in_lisbon, now_utc, past_visits, patient_of, records_of
from tests.factories import gen_patient

BOOKED = re.compile(r"^Booked: ")
JUST_TAKEN = "This slot was just taken. Please choose another one."


def main_nav(page: Page):
    return page.get_by_role("navigation", name="Main")


def scroll_history_to_the_end(page: Page, rows) -> list[int]:
    """Scroll to the bottom until the list stops growing; the row count after each page."""
    counts = [rows.count()]
    for _ in range(10):
        if page.locator("#history-rows tr.sentinel").count() == 0:
            break
        page.mouse.wheel(0, 20000)
        expect(rows).not_to_have_count(counts[-1])
        wait_for_htmx(page)
        counts.append(rows.count())
    return counts


def test_a_new_patient_registers_books_scrolls_the_history_reads_records_and_cancels(
    page: Page, app, checkpoint
):
    lisbon = cardiologists_in_lisbon()
    ana = lisbon.cardiologists[0]

    page.goto("/register")
    checkpoint(page, "registration")
    page.get_by_label("Email").fill("rosa@example.com")
    page.get_by_label("Full name").fill("Rosa Almeida")
    page.get_by_label("Mobile phone").fill("+351 912 345 678")
    page.get_by_label("Password", exact=True).fill("a long and private passphrase")
    page.get_by_label("Repeat the password").fill("a long and private passphrase")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("Welcome! Your account is ready.")).to_be_visible()
    expect(page.get_by_role("heading", name="Hello, Rosa Almeida")).to_be_visible()
    checkpoint(page, "my visits, none yet")

    # Rosa's earlier visits at the clinics (60 in the last months, 3 long ago) and 3 records.
    rosa = patient_of(app, "rosa@example.com")
    recent = past_visits(rosa, lisbon.cardiologists, 60, now_utc() - timedelta(days=1))
    past_visits(rosa, lisbon.cardiologists, 3, now_utc() - timedelta(days=200), every_days=30)
    records_of(recent, ["Mild hypertension.", "Normal ECG.", "Seasonal allergy."])

    main_nav(page).get_by_role("link", name="Find a doctor").click()
    expect(page.get_by_role("heading", name="Find a doctor")).to_be_visible()
    checkpoint(page, "search form")
    search(page, "Cardiology", "Lisbon")
    cards = page.locator("article.doctor-result h2")
    expect(cards).to_have_text(["Dr. Ana Ferreira", "Dr. Marta Costa", "Dr. João Silva"])
    checkpoint(page, "search results", readme="search-results")

    first_slot = slot_buttons(doctor_card(page, ana.full_name)).first
    expect(first_slot).to_have_accessible_name(
        re.compile(f"^Book {lisbon.first_day:%a %d %b %Y}, 09:00 .* with Dr. Ana Ferreira$")
    )
    first_slot.click()
    expect(page.get_by_role("heading", name="Confirm your visit")).to_be_visible()
    checkpoint(page, "confirm the visit")
    page.get_by_label("Reason for the visit").fill("Palpitations when climbing stairs")
    page.get_by_role("button", name="Confirm booking").click()
    expect(page.get_by_text(BOOKED)).to_be_visible()
    upcoming = page.get_by_role("row").filter(has_text="Dr. Ana Ferreira")
    expect(upcoming).to_have_count(1)
    expect(upcoming).to_contain_text(f"{lisbon.first_day:%a %d %b %Y}, 09:00")
    checkpoint(page, "booked, among the upcoming visits")

    main_nav(page).get_by_role("link", name="History").click()
    expect(page.get_by_role("heading", name="Upcoming visits")).to_be_visible()
    expect(page.locator("#upcoming-rows")).to_contain_text("Dr. Ana Ferreira")
    past_rows = page.locator("#history-rows tr[id^=visit-]")
    expect(past_rows).to_have_count(20)
    checkpoint(page, "history, first page")
    assert scroll_history_to_the_end(page, past_rows) == [20, 40, 60]
    page.get_by_role("button", name="Show older visits").click()
    expect(past_rows).to_have_count(63)
    expect(page.get_by_text("That is the whole list.")).to_be_visible()
    checkpoint(page, "history, scrolled to the oldest visits")

    main_nav(page).get_by_role("link", name="Medical records").click()
    expect(page.get_by_role("heading", name="My medical records")).to_be_visible()
    records = page.locator("#records-rows tr[id^=record-]")
    expect(records).to_have_count(3)
    expect(records.first).to_contain_text("Mild hypertension.")
    checkpoint(page, "medical records")

    main_nav(page).get_by_role("link", name="My visits").click()
    page.once("dialog", lambda dialog: dialog.accept())  # "Cancel this visit?"
    upcoming.get_by_role("button", name="Cancel").click()
    expect(page.get_by_text("Your visit is cancelled.")).to_be_visible()
    expect(page.get_by_text("You have no upcoming visits.")).to_be_visible()
    checkpoint(page, "visit cancelled")

    main_nav(page).get_by_role("link", name="rosa@example.com").click()
    expect(page.get_by_role("heading", name="Change your password")).to_be_visible()
    checkpoint(page, "change the password")
    page.get_by_label("Current password").fill("a long and private passphrase")
    page.get_by_label("New password", exact=True).fill("an even longer private passphrase")
    page.get_by_label("Repeat the new password").fill("an even longer private passphrase")
    page.get_by_role("button", name="Change the password").click()
    expect(page.get_by_text("Your password is changed.")).to_be_visible()
    expect(page.get_by_role("heading", name="Hello, Rosa Almeida")).to_be_visible()
    checkpoint(page, "password changed, still signed in")


def test_two_patients_race_for_one_slot_and_the_second_is_told_it_was_just_taken(
    new_context, checkpoint
):
    lisbon = cardiologists_in_lisbon()
    gen_patient(email="ines@example.com", full_name="Inês Rocha")
    gen_patient(email="pedro@example.com", full_name="Pedro Lima")
    pages = []
    for email in ("ines@example.com", "pedro@example.com"):
        page = new_context().new_page()
        sign_in(page, email, checkpoint)
        page.goto("/patient/search")
        search(page, "Cardiology", "Lisbon")
        checkpoint(page, f"search results for {email}")
        slot_buttons(doctor_card(page, "Dr. Ana Ferreira")).first.click()
        expect(page.get_by_role("heading", name="Confirm your visit")).to_be_visible()
        pages.append(page)
    checkpoint(pages[0], "both about to confirm the same slot")

    for page in pages:  # both press at once; the database decides
        page.get_by_role("button", name="Confirm booking").click(no_wait_after=True)
    outcomes = []
    for page in pages:
        answer = page.get_by_text(BOOKED).or_(page.get_by_text(JUST_TAKEN))
        expect(answer).to_be_visible()
        wait_for_htmx(page)
        outcomes.append("booked" if page.get_by_text(BOOKED).count() else "taken")
    assert sorted(outcomes) == ["booked", "taken"]

    loser = pages[outcomes.index("taken")]
    expect(loser.get_by_role("alert")).to_have_text(JUST_TAKEN)
    taken_label = f"Book {lisbon.first_day:%a %d %b %Y}, 09:00"
    fresh = slot_buttons(loser, "Book ")
    expect(fresh.first).to_be_visible()
    expect(slot_buttons(loser, taken_label)).to_have_count(0)
    checkpoint(loser, "the slot was just taken, fresh times offered")
    fresh.first.click()
    loser.get_by_role("button", name="Confirm booking").click()
    expect(loser.get_by_text(BOOKED)).to_be_visible()
    checkpoint(loser, "booked another time")


def test_a_patient_books_with_the_keyboard_alone(page: Page, checkpoint):
    cardiologists_in_lisbon()
    gen_patient(email="kai@example.com", full_name="Kai Nakamura")
    keyboard = page.keyboard

    page.goto("/login")
    checkpoint(page, "sign in")
    tab_to(page, page.get_by_label("Email"))
    keyboard.type("kai@example.com")
    tab_to(page, page.get_by_label("Password"))
    keyboard.type(PASSWORD)
    keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Hello, Kai Nakamura")).to_be_visible()
    checkpoint(page, "my visits")

    tab_to(page, main_nav(page).get_by_role("link", name="Find a doctor"))
    keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Find a doctor")).to_be_visible()
    checkpoint(page, "search form")
    tab_to(page, page.get_by_label("Specialization"))
    keyboard.type("Cardiology")  # a closed select picks the option typed
    tab_to(page, page.get_by_label("City"))
    keyboard.type("Lisbon")
    tab_to(page, page.get_by_role("button", name="Search"))
    keyboard.press("Enter")
    first_slot = slot_buttons(doctor_card(page, "Dr. Ana Ferreira")).first
    expect(first_slot).to_be_visible()
    checkpoint(page, "search results")

    tab_to(page, first_slot)
    keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Confirm your visit")).to_be_visible()
    checkpoint(page, "confirm the visit")
    tab_to(page, page.get_by_label("Reason for the visit"))
    keyboard.type("Booked without a mouse")
    tab_to(page, page.get_by_role("button", name="Confirm booking"))
    keyboard.press("Space")
    expect(page.get_by_text(BOOKED)).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="Dr. Ana Ferreira")).to_have_count(1)
    checkpoint(page, "booked")


@pytest.mark.browser_context_args(
    viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, device_scale_factor=2
)
def test_a_patient_books_on_a_phone_sized_screen(page: Page, checkpoint):
    lisbon = cardiologists_in_lisbon()
    gen_patient(email="lia@example.com", full_name="Lia Duarte")

    sign_in(page, "lia@example.com", checkpoint)
    expect(page.get_by_role("heading", name="Hello, Lia Duarte")).to_be_visible()
    assert page_is_no_wider_than_the_screen(page)
    checkpoint(page, "my visits on a phone")

    page.get_by_role("button", name="Book a visit").tap()
    expect(page.get_by_role("heading", name="Find a doctor")).to_be_visible()
    search(page, "Cardiology", "Lisbon")
    assert page_is_no_wider_than_the_screen(page)
    checkpoint(page, "search results on a phone")

    slot = slot_buttons(doctor_card(page, "Dr. Marta Costa")).first
    slot.scroll_into_view_if_needed()
    slot.tap()
    expect(page.get_by_role("heading", name="Confirm your visit")).to_be_visible()
    assert page_is_no_wider_than_the_screen(page)
    checkpoint(page, "confirm on a phone")
    page.get_by_role("button", name="Confirm booking").tap()
    expect(page.get_by_text(BOOKED)).to_be_visible()
    visit = page.get_by_role("row").filter(has_text="Dr. Marta Costa")
    expect(visit).to_contain_text(f"{lisbon.first_day:%a %d %b %Y}, 09:00")
    assert page_is_no_wider_than_the_screen(page)
    checkpoint(page, "booked on a phone")


def test_a_patient_opens_a_doctors_week_from_a_search_card_and_books_a_late_time(
    page: Page, checkpoint
):
    lisbon = cardiologists_in_lisbon()
    gen_patient(email="lia@example.com", full_name="Lia Matos")
    sign_in(page, "lia@example.com", checkpoint)
    page.goto("/patient/search")
    search(page, "Cardiology", "Lisbon")
    checkpoint(page, "search results with four times a day per card")
    card = doctor_card(page, "Dr. Ana Ferreira")
    first_day = f"{lisbon.first_day:%a %d %b}"
    # A card shows four times a day; the other twelve are on the doctor's page.
    more = card.get_by_role("link", name=f"12 more times on {first_day} with Dr. Ana Ferreira")
    more.click()
    expect(page.get_by_role("heading", name="Dr. Ana Ferreira")).to_be_visible()
    checkpoint(page, "a doctor's free times for a week")
    late = slot_buttons(page, f"Book {lisbon.first_day:%a %d %b %Y}, 16:30")
    expect(late).to_have_count(1)
    late.click()
    expect(page.get_by_role("heading", name="Confirm your visit")).to_be_visible()
    checkpoint(page, "confirming a time chosen on the doctor's page")
    page.get_by_role("button", name="Confirm booking").click()
    expect(page.get_by_text(BOOKED)).to_be_visible()
    checkpoint(page, "booked a time from the doctor's page")
