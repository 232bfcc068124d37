"""Staff journeys in a real browser: a doctor runs the day and writes a record that the patient
then reads; a clinic admin's time off and weekly rule change what patients can book."""

import re
from datetime import date, timedelta

from playwright.sync_api import expect

from portal.services.rules import WEEKDAYS
from tests.e2e.actions import doctor_card, search, sign_in, slot_buttons, wait_for_htmx
from tests.e2e.data import a_clinic_week, a_doctors_day


def long_date(day: date) -> str:
    return f"{day:%A %d %B %Y}"


def slot_label(day: date, clock: str) -> str:
    """The start of a slot button's accessible name: "Book Wed 02 Dec 2026, 09:00"."""
    return f"Book {day:%a %d %b %Y}, {clock}"


def test_a_doctor_moves_through_the_days_completes_a_visit_and_the_patient_reads_the_record(
    new_context, checkpoint
):
    world = a_doctors_day()
    tomorrow = world.today + timedelta(days=1)
    page = new_context().new_page()

    sign_in(page, world.doctor.user.email, checkpoint)
    expect(page.get_by_role("heading", name="Dr. Helen Park")).to_be_visible()
    days = page.get_by_role("navigation", name="Days")
    visits = page.locator("table.day-schedule tbody tr")
    expect(days).to_contain_text(long_date(world.today))
    expect(visits).to_have_count(3)
    checkpoint(page, "the doctor's day")

    page.evaluate("window.stillTheSameDocument = true")  # a full reload would forget this
    days.get_by_role("link", name="Next day").click()
    expect(days).to_contain_text(long_date(tomorrow))
    expect(page).to_have_url(re.compile(rf"date={tomorrow.isoformat()}"))
    expect(visits).to_have_count(1)
    expect(visits).to_contain_text(world.tomorrow_patient)
    checkpoint(page, "tomorrow")
    days.get_by_role("link", name="Previous day").click()
    expect(days).to_contain_text(long_date(world.today))
    expect(visits).to_have_count(3)
    assert page.evaluate("window.stillTheSameDocument") is True

    maria = visits.filter(has_text="Maria Gomez")
    maria.get_by_role("button", name="Check in").click()
    expect(maria).to_contain_text("checked in")
    maria.get_by_role("button", name="Completed").click()
    expect(maria.locator(".status")).to_have_text("Completed")
    assert page.evaluate("window.stillTheSameDocument") is True
    checkpoint(page, "checked in and completed")

    maria.get_by_role("link", name="Write a record").click()
    expect(page.get_by_role("heading", name="Records of this visit")).to_be_visible()
    checkpoint(page, "a new record")
    page.get_by_label("Record type").select_option(label="Diagnosis")
    page.get_by_label("Diagnosis", exact=True).fill("Essential hypertension, well controlled.")
    page.get_by_label("Prescription", exact=True).fill("Lisinopril 10 mg once a day")
    page.get_by_label("Blood pressure, systolic").fill("128")
    page.get_by_label("Blood pressure, diastolic").fill("82")
    page.get_by_label("Pulse").fill("72")
    page.get_by_role("button", name="Save the record").click()
    expect(page.get_by_text("The record is saved.")).to_be_visible()
    written = page.get_by_role("region", name="Written on this visit")
    expect(written).to_contain_text("Essential hypertension, well controlled.")
    checkpoint(page, "the record is saved")

    page.get_by_role("link", name="My day").first.click()
    expect(visits.filter(has_text="Maria Gomez").locator(".status")).to_have_text("Completed")
    checkpoint(page, "the day, one visit done", readme="doctors-day")

    patient = new_context().new_page()
    sign_in(patient, "maria@example.com", checkpoint)
    checkpoint(patient, "the patient's visits")
    patient.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Medical records"
    ).click()
    record = patient.locator("#records-rows tr[id^=record-]")
    expect(record).to_have_count(1)
    expect(record).to_contain_text("Essential hypertension, well controlled.")
    expect(record).to_contain_text("Lisinopril 10 mg once a day")
    expect(record).to_contain_text("Dr. Helen Park")
    checkpoint(patient, "the patient reads the record")


def test_an_admin_takes_time_off_over_a_booking_and_shortens_a_day_and_the_search_follows(
    new_context, checkpoint
):
    world = a_clinic_week()
    booked, next_day = world.booked_day, world.next_day
    patient = new_context().new_page()
    sign_in(patient, world.patient_email, checkpoint)
    expect(patient.get_by_role("row").filter(has_text="Dr. Ana Ferreira")).to_contain_text(
        f"{booked:%a %d %b %Y}, 10:00"
    )
    patient.goto("/patient/search")
    search(patient, "Cardiology", "Lisbon")
    ana = doctor_card(patient, "Dr. Ana Ferreira")
    expect(slot_buttons(ana, slot_label(booked, "09:00"))).to_have_count(1)
    expect(slot_buttons(ana, slot_label(next_day, "09:00"))).to_have_count(1)
    checkpoint(patient, "the patient's search before")

    admin = new_context().new_page()
    sign_in(admin, world.admin_email, checkpoint)
    expect(admin.get_by_role("heading", name="Lisbon Heart Centre")).to_be_visible()
    checkpoint(admin, "the clinic's doctors")
    doctor_row = admin.get_by_role("row").filter(has_text="Dr. Ana Ferreira")
    doctor_row.get_by_role("link", name="Time off").click()
    expect(admin.get_by_role("heading", name="Time off of Dr. Ana Ferreira")).to_be_visible()
    checkpoint(admin, "time off")
    admin.get_by_label("From").fill(f"{booked.isoformat()}T09:00")
    admin.get_by_label("Until").fill(f"{booked.isoformat()}T12:00")
    admin.get_by_label("Reason").fill("Cardiology congress")
    admin.get_by_role("button", name="Add the time off").click()
    collisions = admin.get_by_role("alert")
    expect(collisions).to_contain_text("1 booked visit falls inside this time off")
    expect(collisions).to_contain_text("Paula Reis")
    checkpoint(admin, "a booked visit collides")
    admin.get_by_label("Cancel them and tell each patient").check()
    admin.get_by_role("button", name="Add the time off").click()
    expect(admin.get_by_text("1 visit(s) cancelled")).to_be_visible()
    expect(admin.get_by_role("row").filter(has_text="Cardiology congress")).to_have_count(1)
    checkpoint(admin, "time off added, the visit cancelled")

    admin.get_by_role("link", name="Weekly rules").click()
    expect(admin.get_by_role("heading", name="Weekly rules of Dr. Ana Ferreira")).to_be_visible()
    checkpoint(admin, "weekly rules")
    weekday = WEEKDAYS[next_day.weekday()]
    admin.get_by_role("row").filter(has_text=weekday).get_by_role("link", name="Edit").click()
    expect(admin.get_by_role("heading", name="Edit a weekly rule")).to_be_visible()
    checkpoint(admin, "edit a rule")
    admin.get_by_label("Start", exact=True).fill("13:00")
    admin.get_by_role("button", name="Save the rule").click()
    expect(admin.get_by_text("The rule is changed.")).to_be_visible()
    expect(admin.get_by_role("row").filter(has_text=weekday)).to_contain_text("13:00–17:00")
    checkpoint(admin, "the rule is changed")

    admin.get_by_role("navigation", name="Main").get_by_role("link", name="Calendar").click()
    admin.get_by_label("Go to the week of").fill(booked.isoformat())
    admin.get_by_role("button", name="Show").click()
    wait_for_htmx(admin)
    paula = admin.locator("li[id^=calendar-visit-]").filter(has_text="Paula Reis")
    expect(paula).to_contain_text("Cancelled")
    checkpoint(admin, "the clinic's week", readme="clinic-calendar")

    patient.reload()
    ana = doctor_card(patient, "Dr. Ana Ferreira")
    expect(slot_buttons(ana, slot_label(booked, "12:00"))).to_have_count(1)
    for clock in ("09:00", "09:30", "10:00", "10:30", "11:00", "11:30"):
        expect(slot_buttons(ana, slot_label(booked, clock), include_hidden=True)).to_have_count(0)
    expect(slot_buttons(ana, slot_label(next_day, "13:00"))).to_have_count(1)
    for clock in ("09:00", "10:00", "11:00", "12:00", "12:30"):
        expect(slot_buttons(ana, slot_label(next_day, clock), include_hidden=True)).to_have_count(0)
    checkpoint(patient, "the patient's search after")
    patient.get_by_role("navigation", name="Main").get_by_role("link", name="My visits").click()
    expect(patient.get_by_text("You have no upcoming visits.")).to_be_visible()
    checkpoint(patient, "the visit is gone from the patient's list")
