"""The worlds the journeys happen in, built with the gen_* factories.

Times are relative to the real clock: the browser, the server and the data all live in the
present, so the doctor's "today" is today. Clinics sit in zones chosen so that a journey's
assumptions (office hours now, a visit that started half an hour ago) hold whenever it runs.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select

from portal.extensions import db
from portal.models import Clinic, Doctor, Patient, User
from tests.factories import (
    gen_admin,
    gen_appointment,
    gen_clinic,
    gen_doctor,
    gen_patient,
    gen_record,
    gen_schedule,
)

# Cities around the globe: at any moment one of them is in office hours.
CITIES_BY_OFFSET = (
    ("Honolulu", "Pacific/Honolulu"),
    ("Los Angeles", "America/Los_Angeles"),
    ("Chicago", "America/Chicago"),
    ("New York", "America/New_York"),
    ("São Paulo", "America/Sao_Paulo"),
    ("Lisbon", "Europe/Lisbon"),
    ("Berlin", "Europe/Berlin"),
    ("Athens", "Europe/Athens"),
    ("Dubai", "Asia/Dubai"),
    ("Delhi", "Asia/Kolkata"),
    ("Bangkok", "Asia/Bangkok"),
    ("Tokyo", "Asia/Tokyo"),
    ("Sydney", "Australia/Sydney"),
    ("Auckland", "Pacific/Auckland"),
)


def now_utc() -> datetime:
    return datetime.now(UTC)


def local_today(timezone: str) -> date:
    return now_utc().astimezone(ZoneInfo(timezone)).date()


def at_local(day: date, clock: time, timezone: str) -> datetime:
    """A clinic-local wall-clock time as an aware UTC datetime."""
    return datetime.combine(day, clock, tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def city_in_office_hours(now: datetime) -> tuple[str, str]:
    """A city whose local time is between 10:00 and 16:00 right now."""
    for city, timezone in CITIES_BY_OFFSET:
        if 10 <= now.astimezone(ZoneInfo(timezone)).hour < 16:
            return city, timezone
    raise AssertionError(f"no city in office hours at {now}")  # the list spans every 3 hours


def patient_of(app, email: str) -> Patient:
    """The patient who signed up with this email (registered through the browser)."""
    with app.app_context():
        return db.session.scalar(select(Patient).join(User).where(User.email == email))


def doctor_named(clinic: Clinic, full_name: str, specialization="Cardiology", fee="90.00"):
    """A doctor whose sign-in reads like their name: "Dr. Ana Ferreira" is ana.ferreira@..."""
    email = ".".join(full_name.removeprefix("Dr. ").lower().split()) + "@clinic.example"
    return gen_doctor(
        clinic,
        email=email,
        full_name=full_name,
        specialization=specialization,
        consultation_fee=Decimal(fee),
    )


@dataclass
class Lisbon:
    """Cardiologists in Lisbon (and, to be left out of the search, elsewhere or otherwise)."""

    cardiologists: list[Doctor]
    elsewhere: Doctor
    dermatologist: Doctor
    first_day: date  # the first day with free slots: tomorrow, Lisbon time


def cardiologists_in_lisbon() -> Lisbon:
    """Three cardiologists in two Lisbon clinics, weekly hours 09:00-17:00 from tomorrow on."""
    tomorrow = local_today("Europe/Lisbon") + timedelta(days=1)
    heart = gen_clinic(name="Lisbon Heart Centre", city="Lisbon", timezone="Europe/Lisbon")
    riverside = gen_clinic(name="Riverside Clinic", city="Lisbon", timezone="Europe/Lisbon")
    porto = gen_clinic(name="Porto Health", city="Porto", timezone="Europe/Lisbon")
    cardiologists = [
        doctor_named(heart, "Dr. Ana Ferreira", fee="95.00"),
        doctor_named(heart, "Dr. João Silva", fee="80.00"),
        doctor_named(riverside, "Dr. Marta Costa", fee="110.00"),
    ]
    elsewhere = doctor_named(porto, "Dr. Rui Almeida")
    dermatologist = doctor_named(heart, "Dr. Inês Santos", specialization="Dermatology")
    for doctor in [*cardiologists, elsewhere, dermatologist]:
        gen_schedule(doctor, start=time(9), end=time(17), slot=30, valid_from=tomorrow)
    # Dr. Silva's first mornings are busy, so the results are not all alike.
    busy = gen_patient(full_name="Carla Mendes")
    for hour in (9, 10, 11):
        gen_appointment(busy, cardiologists[1], at_local(tomorrow, time(hour), "Europe/Lisbon"))
    return Lisbon(cardiologists, elsewhere, dermatologist, tomorrow)


REASONS = ("Check-up", "Blood pressure follow-up", "Chest pain", "Test results", "Palpitations")
STATUSES = ("completed", "completed", "no_show", "cancelled")


def past_visits(
    patient: Patient, doctors: list[Doctor], count: int, latest: datetime, every_days=2
):
    """`count` past visits going back from `latest`, doctors, statuses and reasons in turn."""
    visits = []
    for n in range(count):
        visits.append(
            gen_appointment(
                patient,
                doctors[n % len(doctors)],
                latest - timedelta(days=every_days * n),
                status=STATUSES[n % len(STATUSES)],
                reason=REASONS[n % len(REASONS)],
            )
        )
    return visits


def records_of(visits, diagnoses: list[str]):
    """One consultation record on each of the first completed visits."""
    completed = [visit for visit in visits if visit.status == "completed"]
    return [
        gen_record(visit, diagnosis=diagnosis, prescription="Rest and fluids", data={"pulse": 70})
        for visit, diagnosis in zip(completed, diagnoses, strict=False)
    ]


@dataclass
class DoctorsDay:
    doctor: Doctor
    timezone: str
    today: date
    started_visit_patient: Patient  # a visit that began half an hour ago
    later_today: list[str]
    tomorrow_patient: str


def a_doctors_day() -> DoctorsDay:
    """A cardiologist in a city in office hours: one visit under way, two later, one tomorrow."""
    now = now_utc()
    city, timezone = city_in_office_hours(now)
    clinic = gen_clinic(name=f"{city} Heart Centre", city=city, timezone=timezone)
    doctor = doctor_named(clinic, "Dr. Helen Park")
    gen_schedule(doctor, start=time(8), end=time(20), slot=30)
    gen_admin(clinic)
    today = local_today(timezone)
    local_now = now.astimezone(ZoneInfo(timezone))
    half_hour = local_now.replace(
        minute=30 if local_now.minute >= 30 else 0, second=0, microsecond=0
    )
    started = half_hour.astimezone(UTC) - timedelta(minutes=30)
    maria = gen_patient(email="maria@example.com", full_name="Maria Gomez")
    gen_appointment(maria, doctor, started, reason="Blood pressure follow-up")
    later = []
    for hours, name, reason in ((1, "Tom Baker", "Chest pain"), (2, "Lena Koch", "Check-up")):
        gen_appointment(
            gen_patient(full_name=name), doctor, started + timedelta(hours=hours), reason=reason
        )
        later.append(name)
    tomorrow = today + timedelta(days=1)
    gen_appointment(
        gen_patient(full_name="Sam Lee"),
        doctor,
        at_local(tomorrow, time(10), timezone),
        reason="Test results",
    )
    return DoctorsDay(doctor, timezone, today, maria, later, "Sam Lee")


PATIENT_NAMES = (
    "Bruno Dias",
    "Clara Nunes",
    "Diogo Pires",
    "Eva Moreira",
    "Filipa Sousa",
    "Gil Teixeira",
    "Hugo Matos",
    "Irene Faria",
)


@dataclass
class ClinicWeek:
    clinic: Clinic
    admin_email: str
    ana: Doctor
    patient_email: str
    booked_day: date  # the patient's visit with Dr. Ferreira is at 10:00 on this day
    next_day: date


def a_clinic_week() -> ClinicWeek:
    """A Lisbon clinic with three doctors (09:00-17:00 every day) and a busy week.

    Paula has a visit with Dr. Ferreira at 10:00 three days from now. Dr. Ferreira's mornings
    that day and the next stay otherwise free, so what the patient's search shows there
    depends only on the admin's time off and weekly rule.
    """
    timezone = "Europe/Lisbon"
    clinic = gen_clinic(name="Lisbon Heart Centre", city="Lisbon", timezone=timezone)
    gen_admin(clinic, email="admin@lisbonheart.example")
    ana = doctor_named(clinic, "Dr. Ana Ferreira", fee="95.00")
    joao = doctor_named(clinic, "Dr. João Silva", fee="80.00")
    ines = doctor_named(clinic, "Dr. Inês Santos", specialization="Dermatology", fee="70.00")
    for doctor in (ana, joao, ines):
        gen_schedule(doctor, start=time(9), end=time(17), slot=30)
    booked_day = local_today(timezone) + timedelta(days=3)
    paula = gen_patient(email="paula@example.com", full_name="Paula Reis")
    gen_appointment(paula, ana, at_local(booked_day, time(10), timezone), reason="Palpitations")

    now = now_utc()
    monday = booked_day - timedelta(days=booked_day.weekday())
    patients = [gen_patient(full_name=name) for name in PATIENT_NAMES]
    hours = {
        ana: (time(15), time(16)),
        joao: (time(9), time(11, 30), time(14)),
        ines: (time(10), time(13)),
    }
    n = 0
    for offset in range(7):
        day = monday + timedelta(days=offset)
        for doctor, clocks in hours.items():
            for clock in clocks[: 1 + (offset + n) % len(clocks)]:
                starts_at = at_local(day, clock, timezone)
                status = "completed" if starts_at < now else "scheduled"
                gen_appointment(patients[n % len(patients)], doctor, starts_at, status=status)
                n += 1
    return ClinicWeek(
        clinic,
        "admin@lisbonheart.example",
        ana,
        "paula@example.com",
        booked_day,
        booked_day + timedelta(days=1),
    )
