"""A small, realistic demo: enough to click through every page and see paging work."""

import random
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select

from portal.extensions import db
from portal.models import (
    Appointment,
    Clinic,
    Doctor,
    DoctorSchedule,
    MedicalRecord,
    Patient,
    ScheduleException,
    User,
    utcnow,
)
from portal.seed.text import DIAGNOSES, FIRST_NAMES, LAST_NAMES, REASONS, SPECIALIZATIONS
from portal.services.passwords import hash_password

DEMO_SIGN_INS = (
    ("patient@example.com", "patient"),
    ("patient2@example.com", "patient"),
    ("doctor@example.com", "doctor"),
    ("admin@example.com", "clinic_admin"),
)

CLINICS = (
    ("Hudson Health Center", "New York", "America/New_York"),
    ("Pacific Family Clinic", "Los Angeles", "America/Los_Angeles"),
    ("Praxis am Spreeufer", "Berlin", "Europe/Berlin"),
)


def load_demo(seed: int = 2026) -> bool:
    """Load the demo unless it is there already; True when it was loaded now."""
    if db.session.scalar(select(User.id).where(User.email == "patient@example.com")):
        return False
    DemoBuilder(random.Random(seed), hash_password(current_app.config["DEMO_PASSWORD"])).build()
    db.session.commit()
    return True


class DemoBuilder:
    """Builds the demo in memory, keeping bookings on each doctor's grid and never overlapping."""

    def __init__(self, rng: random.Random, password_hash: str):
        self.rng = rng
        self.password_hash = password_hash
        self.taken: set[tuple[int, datetime]] = set()
        self.patient_busy: set[tuple[int, datetime]] = set()
        self.today = utcnow().date()
        self.slot_minutes: dict[int, int] = {}
        self.specialization: dict[int, str] = {}

    def user(self, email: str, role: str, clinic: Clinic | None = None) -> User:
        user = User(email=email, password_hash=self.password_hash, role=role, clinic=clinic)
        db.session.add(user)
        return user

    def person_name(self) -> str:
        return f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(LAST_NAMES)}"

    def build(self) -> None:
        clinics = [Clinic(name=n, city=c, timezone=tz) for n, c, tz in CLINICS]
        db.session.add_all(clinics)
        self.user("admin@example.com", "clinic_admin", clinics[0])
        for index, clinic in enumerate(clinics[1:], start=2):
            self.user(f"admin{index}@example.com", "clinic_admin", clinic)

        doctors = self.build_doctors(clinics)
        patients = self.build_patients()
        db.session.flush()
        self.build_schedules(doctors)
        db.session.flush()
        self.build_appointments(doctors, patients)

    def build_doctors(self, clinics: list[Clinic]) -> list[Doctor]:
        doctors = []
        for index in range(20):
            clinic = clinics[index % len(clinics)]
            specialization = SPECIALIZATIONS[index % len(SPECIALIZATIONS)]
            email = "doctor@example.com" if index == 0 else f"doctor{index + 1}@example.com"
            user = self.user(email, "doctor")
            doctor = Doctor(
                user=user,
                clinic=clinic,
                full_name="Dr. " + self.person_name(),
                specialization=specialization,
                consultation_fee=Decimal(self.rng.choice((60, 75, 90, 110, 120, 150))),
            )
            db.session.add(doctor)
            doctors.append(doctor)
        return doctors

    def build_patients(self) -> list[Patient]:
        patients = []
        for index in range(60):
            email = {0: "patient@example.com", 1: "patient2@example.com"}.get(
                index, f"patient{index + 1}@example.com"
            )
            user = self.user(email, "patient")
            patient = Patient(
                user=user,
                full_name=self.person_name(),
                birth_date=date(1950, 1, 1) + timedelta(days=self.rng.randrange(0, 365 * 55)),
                phone=f"+1555{self.rng.randrange(1000000, 9999999)}",
                notify_sms=index % 3 != 0,
            )
            db.session.add(patient)
            patients.append(patient)
        return patients

    def build_schedules(self, doctors: list[Doctor]) -> None:
        """Weekdays in two blocks; the demo doctor also works short weekend hours."""
        start = self.today - timedelta(days=3 * 365)
        for index, doctor in enumerate(doctors):
            slot = (15, 20, 30)[index % 3]
            self.slot_minutes[doctor.id] = slot
            self.specialization[doctor.id] = doctor.specialization
            days = range(7) if index == 0 else range(5)
            for weekday in days:
                blocks = (
                    [(time(10), time(14))]
                    if weekday >= 5
                    else [(time(9), time(12)), (time(13), time(17))]
                )
                for begin, end in blocks:
                    db.session.add(
                        DoctorSchedule(
                            doctor_id=doctor.id,
                            weekday=weekday,
                            start_time=begin,
                            end_time=end,
                            slot_minutes=slot,
                            valid_from=start,
                        )
                    )
            if index % 4 == 1:  # a few doctors have time off coming up
                zone = ZoneInfo(doctor.clinic.timezone)
                off = datetime.combine(
                    self.today + timedelta(days=10 + index), time(0), tzinfo=zone
                )
                db.session.add(
                    ScheduleException(
                        doctor_id=doctor.id,
                        starts_at=off,
                        ends_at=off + timedelta(days=2),
                        reason="Conference",
                    )
                )

    def slot(self, doctor: Doctor, day: date, patient: Patient) -> tuple[datetime, datetime] | None:
        """A free grid slot of this doctor on this local day, or None."""
        zone = ZoneInfo(doctor.clinic.timezone)
        minutes = self.slot_minutes[doctor.id]
        block_start = 10 * 60 if day.weekday() >= 5 else 9 * 60
        block_end = 14 * 60 if day.weekday() >= 5 else 17 * 60
        candidates = list(range(block_start, block_end - minutes + 1, minutes))
        self.rng.shuffle(candidates)
        for offset in candidates:
            if day.weekday() < 5 and 12 * 60 <= offset < 13 * 60:
                continue  # lunch
            local = datetime.combine(day, time(offset // 60, offset % 60), tzinfo=zone)
            starts = local.astimezone(ZoneInfo("UTC"))
            key = (doctor.id, starts)
            if key in self.taken or (patient.id, starts) in self.patient_busy:
                continue
            self.taken.add(key)
            self.patient_busy.add((patient.id, starts))
            return starts, starts + timedelta(minutes=minutes)
        return None

    def book(self, doctor: Doctor, patient: Patient, day: date, status: str) -> Appointment | None:
        if day.weekday() >= 5 and doctor.user.email != "doctor@example.com":
            day -= timedelta(days=day.weekday() - 4)  # move weekend visits to Friday
        times = self.slot(doctor, day, patient)
        if times is None:
            return None
        appointment = Appointment(
            patient_id=patient.id,
            doctor_id=doctor.id,
            starts_at=times[0],
            ends_at=times[1],
            status=status,
            kind="video" if self.rng.random() < 0.25 else "in_person",
            reason=self.rng.choice(REASONS[doctor.specialization]),
            created_at=times[0] - timedelta(days=self.rng.randrange(1, 30)),
        )
        db.session.add(appointment)
        return appointment

    def past_status(self) -> str:
        return self.rng.choices(("completed", "cancelled", "no_show"), (85, 10, 5))[0]

    def build_appointments(self, doctors: list[Doctor], patients: list[Patient]) -> None:
        demo_doctor, demo_patient = doctors[0], patients[0]
        visits: list[Appointment] = []
        # The demo patient: 36 past visits over two years, 8 upcoming, many with the demo doctor.
        for n in range(36):
            doctor = demo_doctor if n % 2 == 0 else self.rng.choice(doctors)
            day = self.today - timedelta(days=20 * (n + 1) + self.rng.randrange(0, 10))
            visits.append(self.book(doctor, demo_patient, day, self.past_status()))
        for n in range(8):
            doctor = demo_doctor if n % 2 == 0 else self.rng.choice(doctors)
            day = self.today + timedelta(days=2 + 4 * n)
            visits.append(self.book(doctor, demo_patient, day, "scheduled"))
        # The demo doctor's day today, so the first page has something on it.
        local_today = utcnow().astimezone(ZoneInfo(demo_doctor.clinic.timezone)).date()
        for patient in patients[1:7]:
            visits.append(self.book(demo_doctor, patient, local_today, "scheduled"))
        # Everyone else: a handful of past and future visits.
        for patient in patients[1:]:
            for _ in range(self.rng.randrange(3, 12)):
                doctor = self.rng.choice(doctors)
                if self.rng.random() < 0.7:
                    day = self.today - timedelta(days=self.rng.randrange(1, 700))
                    visits.append(self.book(doctor, patient, day, self.past_status()))
                else:
                    day = self.today + timedelta(days=self.rng.randrange(1, 40))
                    visits.append(self.book(doctor, patient, day, "scheduled"))
        db.session.flush()
        for appointment in visits:
            if appointment is not None and appointment.status == "completed":
                db.session.add(self.record_for(appointment))

    def record_for(self, appointment: Appointment) -> MedicalRecord:
        specialization = self.specialization[appointment.doctor_id]
        diagnosis, prescription = self.rng.choice(DIAGNOSES[specialization])
        return MedicalRecord(
            patient_id=appointment.patient_id,
            doctor_id=appointment.doctor_id,
            appointment_id=appointment.id,
            created_at=appointment.ends_at + timedelta(minutes=5),
            record_type=self.rng.choice(
                ("consultation", "diagnosis", "prescription", "lab_result")
            ),
            diagnosis=diagnosis,
            prescription=prescription,
            data={
                "vitals": {
                    "blood_pressure": f"{self.rng.randrange(105, 145)}/{self.rng.randrange(65, 95)}",
                    "pulse": self.rng.randrange(55, 100),
                    "temperature_c": round(self.rng.uniform(36.1, 38.2), 1),
                    "weight_kg": round(self.rng.uniform(50, 110), 1),
                },
                "follow_up_weeks": self.rng.choice((None, 2, 4, 12)),
            },
        )
