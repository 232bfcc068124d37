"""`flask seed scale`: the reviewed design's full size in PostgreSQL, with set-based SQL.

Full size: 200 clinics in 40 cities and 8 time zones, 10,000 doctors, 500,000 patients,
25,000,000 appointments (3 years past, 60 days ahead) and 5,000,000 medical records. A fraction
builds a proportional copy with at least 4 clinics, 8 doctors and 20 patients.

Who can sign in (all with the password DEMO_PASSWORD; one argon2id hash, computed once):

- ``admin{N}@scale.example.com``: the clinic admin of clinic N (1 … clinics)
- ``doctor{N}@scale.example.com``: doctor N (doctors.id = N)
- ``patient{N}@scale.example.com``: patient N (patients.id = N). Patients 1 … 50 are the
  heaviest (about 2,050 appointments each), 51 … 1,000 have 500 to 2,000 (fewer as N grows),
  everyone else about 47 (median).

Every table is emptied first. The big btree indexes and the foreign keys of appointments and
medical_records are dropped for the load and recreated at the end with the migration's names
and definitions (an interrupted load is repaired by running it again). The exclusion constraint
stays: its GiST index takes every appointment as it is inserted, on two connections at once.
That index is most of the time of a full load: about 65 µs of CPU per appointment, to insert
the entry and to search for a conflicting one (measured on PostgreSQL 15).
"""

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import pairwise
from threading import Lock

import click
from flask import current_app
from sqlalchemy import Connection, Engine, create_engine, func, insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from portal.extensions import cache, db
from portal.models import Clinic
from portal.models.types import utcnow
from portal.seed import scale_sql as sql
from portal.seed import scale_text as words
from portal.seed.text import DIAGNOSES, FIRST_NAMES, LAST_NAMES, REASONS, SPECIALIZATIONS
from portal.services.passwords import hash_password

FULL_SIZE = {
    "clinics": 200,
    "doctors": 10_000,
    "patients": 500_000,
    "appointments": 25_000_000,
    "records": 5_000_000,
}
MINIMUM = {"clinics": 4, "doctors": 8, "patients": 20, "appointments": 1_000, "records": 100}
TOP_PATIENTS, TOP_VISITS = 50, 2_050  # the heaviest histories
HEAVY_PATIENTS, HEAVY_VISITS = 950, (500, 2_000)  # a linear ramp from 2,000 down to 500
RAMP_K = 0.75  # density 1 - k x: both ramps fall to a quarter (2,000 to 500; 1.6 to 0.4 times the median)
DAYS_BACK, DAYS_AHEAD = 3 * 365, 60
EPOCH_MONDAY = date(2001, 1, 1)  # counts vacation weeks
WORKERS = 2  # connections used at once where the work splits (this machine has 2 cores)
APPOINTMENT_CHUNKS = 12  # day ranges, loaded in order: progress, and no giant transaction
RECORD_CHUNK = 625_000
RECORD_DATA_VARIANTS = 500  # jsonb documents per diagnosis in the pool (24 diagnoses)


@dataclass(frozen=True)
class ScalePlan:
    """How many rows of each kind, and the shape of the patient skew, for one fraction."""

    fraction: float
    clinics: int
    doctors: int
    patients: int
    appointments: int
    records: int
    top: int
    top_visits: int
    heavy: int
    heavy_visits: tuple[int, int]
    first_day: date
    last_day: date

    @classmethod
    def for_fraction(cls, fraction: float, today: date) -> "ScalePlan":
        """A proportional copy; heavy patients keep their depth unless the copy is too small."""
        size = {k: max(MINIMUM[k], round(v * fraction)) for k, v in FULL_SIZE.items()}
        top = max(1, round(TOP_PATIENTS * fraction))
        heavy = min(max(1, round(HEAVY_PATIENTS * fraction)), size["patients"] // 4)
        skewed = top * TOP_VISITS + heavy * sum(HEAVY_VISITS) / 2
        shrink = min(1.0, 0.4 * size["appointments"] / skewed)  # heavy ones ≤ 40 % of visits
        return cls(
            fraction=fraction,
            top=top,
            top_visits=round(TOP_VISITS * shrink),
            heavy=heavy,
            heavy_visits=(round(HEAVY_VISITS[0] * shrink), round(HEAVY_VISITS[1] * shrink)),
            first_day=today - timedelta(days=DAYS_BACK),
            last_day=today + timedelta(days=DAYS_AHEAD),
            **size,
        )

    def working_days(self) -> int:
        """Weekdays in the window, less the one vacation week in 26."""
        days = (self.last_day - self.first_day).days + 1
        weekdays = sum(1 for n in range(days) if (self.first_day + timedelta(days=n)).weekday() < 5)
        return round(weekdays * 25 / 26)

    def appointment_params(self) -> dict:
        """Bind values of APPOINTMENTS: visits per doctor and day, and the patient skew."""
        share_top = self.top * self.top_visits / self.appointments
        share_heavy = self.heavy * sum(self.heavy_visits) / 2 / self.appointments
        return {
            "per_day": self.appointments / (self.doctors * self.working_days()),
            "top": self.top,
            "heavy": self.heavy,
            "others": self.patients - self.top - self.heavy,
            "share_top": share_top,
            "share_heavy": share_heavy,
            "share_others": 1 - share_top - share_heavy,
            "ramp_k": RAMP_K,
            "ramp_kk": RAMP_K * (2 - RAMP_K),
            "specializations": list(SPECIALIZATIONS),
            "reasons": [list(REASONS[s]) for s in SPECIALIZATIONS],
            "n_reasons": len(REASONS[SPECIALIZATIONS[0]]),
            **self.window(),
        }

    def window(self) -> dict:
        """Bind values for the three years back and sixty days ahead, and the vacation weeks."""
        return {
            "first_day": self.first_day,
            "last_day": self.last_day,
            "epoch_monday": EPOCH_MONDAY,
            "first_week": (self.first_day - EPOCH_MONDAY).days // 7,
            "last_week": (self.last_day - EPOCH_MONDAY).days // 7,
        }

    def sizes(self) -> dict:
        """Bind values of the statements that make clinics' staff and patients."""
        return {
            "clinics": self.clinics,
            "doctors": self.doctors,
            "patients": self.patients,
            "n_first": len(FIRST_NAMES),
            "n_last": len(LAST_NAMES),
            "first_names": list(FIRST_NAMES),
            "last_names": list(LAST_NAMES),
            "specializations": list(SPECIALIZATIONS),
            "n_specializations": len(SPECIALIZATIONS),
            **self.window(),
        }


def record_text_params() -> dict:
    """Bind values of RECORDS: the phrases a record is assembled from."""
    types = [t for t, weight in words.RECORD_TYPE_WEIGHTS.items() for _ in range(weight)]
    lists = {
        "record_types": types,
        "history": words.HISTORY,
        "examination": words.EXAMINATION,
        "plan": words.PLAN,
        "rx_notes": words.PRESCRIPTION_NOTES,
        "allergies": words.ALLERGIES,
        "notes": words.NOTES,
        "follow_up": words.FOLLOW_UP,
        "severities": words.SEVERITIES,
        "trends": words.TRENDS,
    }
    params = {name: list(values) for name, values in lists.items()}
    params.update({f"n_{name}": len(values) for name, values in lists.items()})
    params["diagnoses"] = [[dx for dx, _ in DIAGNOSES[s]] for s in SPECIALIZATIONS]
    params["prescriptions"] = [[rx for _, rx in DIAGNOSES[s]] for s in SPECIALIZATIONS]
    params["icd10"] = [list(words.ICD10[s]) for s in SPECIALIZATIONS]
    params["n_diagnoses"] = len(DIAGNOSES[SPECIALIZATIONS[0]])
    params["n_specializations"] = len(SPECIALIZATIONS)
    return params


def load_scale(fraction: float, echo: Callable[[str], None]) -> None:
    """Empty every table and fill them at `fraction` of the full size, reporting each step."""
    if db.engine.dialect.name != "postgresql":
        raise click.ClickException(
            "flask seed scale needs PostgreSQL (set DATABASE_URL); "
            "the embedded SQLite default is for the demo only."
        )
    plan = ScalePlan.for_fraction(fraction, utcnow().date())
    engine = create_engine(db.engine.url, poolclass=NullPool)
    try:
        ScaleLoader(plan, engine, echo).run()
    finally:
        engine.dispose()


def spread(stream: int) -> dict:
    """Bind values that give a statement its share of the rows: ids congruent to stream."""
    return {"streams": WORKERS, "stream": stream}


class ScaleLoader:
    """Runs the steps in order, each on a connection of its own, and reports each one."""

    def __init__(self, plan: ScalePlan, engine: Engine, echo: Callable[[str], None]):
        self.plan = plan
        self.engine = engine
        self.echo = echo
        self.lock = Lock()
        self.started = time.monotonic()

    def run(self) -> None:
        """Every step, in order; steps on the same line of work share the connections."""
        p = self.plan
        self.echo(
            f"Loading {p.clinics:,} clinics, {p.doctors:,} doctors, {p.patients:,} patients, "
            f"~{p.appointments:,} appointments, ~{p.records:,} medical records "
            f"(fraction {p.fraction:g}), visits from {p.first_day} to {p.last_day}."
        )
        self.step("empty every table, drop big indexes", self.empty)
        self.load_people()
        self.in_parallel(self.appointment_chunks())
        self.in_parallel(
            (
                f"cancel overlapping visits, patients {n} mod {WORKERS}",
                self.task(sql.PATIENT_CLASHES, spread(n)),
            )
            for n in range(WORKERS)
        )
        completed = self.step("completed visits that get a record", self.record_source)
        self.step("jsonb documents for records", self.task(sql.RECORD_DATA, self.record_params()))
        self.in_parallel(
            [
                ("appointment indexes and foreign keys", self.task(*sql.APPOINTMENT_INDEXES)),
                *self.record_chunks(completed),
            ]
        )
        self.in_parallel(
            (f"index {ddl.split(' ON ')[0].split()[-1]}", self.task(ddl))
            for ddl in sql.RECORD_INDEXES
        )
        self.step("medical record constraints", self.task(*sql.RECORD_CONSTRAINTS))
        self.step("sequences past the max ids, ANALYZE", self.finish)
        seconds = time.monotonic() - self.started
        self.echo(f"Done in {seconds:.0f} s ({seconds / 60:.1f} minutes).")
        self.echo(
            "Sign in as patient1@scale.example.com, doctor1@scale.example.com or "
            f"admin1@scale.example.com with the password {current_app.config['DEMO_PASSWORD']!r}."
        )

    def connect(self, seed: float = 0.0) -> Connection:
        """A connection in autocommit mode with the bulk-load settings and its own seed."""
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        for statement in sql.SESSION_SETTINGS:
            conn.exec_driver_sql(statement)
        for statement in sql.OPTIONAL_SETTINGS:
            try:
                conn.exec_driver_sql(statement)
                break
            except DBAPIError:  # not a superuser, or no lz4 in this build
                continue
        conn.execute(text("SELECT setseed(:seed)"), {"seed": seed})
        return conn

    def task(self, *statements: str | dict, seed: float = 0.0) -> Callable[[], int | None]:
        """Statements (each optionally followed by its parameters) run on a new connection;
        the rows of the last one."""
        steps: list[tuple[str, dict]] = []
        for item in statements:
            if isinstance(item, dict):
                steps[-1] = (steps[-1][0], item)
            else:
                steps.append((item, {}))

        def run() -> int | None:
            with self.connect(seed) as conn:
                rows = [
                    conn.execute(text(statement), params).rowcount for statement, params in steps
                ]
            return rows[-1] if rows[-1] >= 0 else None

        return run

    def step(self, name: str, run: Callable[[], int | None]) -> int | None:
        """Run one step and report its rows and seconds."""
        began = time.monotonic()
        rows = run()
        shown = f"{rows:>12,} rows" if rows is not None else " " * 17
        with self.lock:
            self.echo(f"  {name:<54}{shown} {time.monotonic() - began:8.1f} s")
        return rows

    def in_parallel(self, steps: Iterable[tuple[str, Callable[[], int | None]]]) -> None:
        """Run the steps on up to WORKERS connections at once; an error cancels those not
        started yet (the running ones finish their statement) and is raised."""
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            futures = [pool.submit(self.step, name, run) for name, run in steps]
            try:
                for future in futures:
                    future.result()
            except BaseException:
                pool.shutdown(cancel_futures=True)
                raise

    def empty(self) -> None:
        """TRUNCATE everything and take off what slows a bulk load down; forget the cache.

        Ids restart at 1, and the cache's versions live in Redis: without the clear, the old
        data's free slots and result lists would be served for the new data's doctors. Only
        the cache's keys (its prefix) go; sessions and queues stay.
        """
        tables = ", ".join(table.name for table in db.metadata.sorted_tables)
        with self.connect() as conn:
            conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
            for statement in sql.DROP_FOR_LOAD:
                conn.exec_driver_sql(statement)
            if not conn.scalar(text(sql.HAS_EXCLUSION)):  # left out by an interrupted load
                conn.exec_driver_sql(sql.EXCLUSION)  # on the empty table: instant
        cache.clear()

    def load_people(self) -> None:
        """Clinics, sign-ins, doctors, patients, weekly rules and time off."""
        clinics = [
            {
                "id": n,
                "name": f"{city} {words.CLINIC_KINDS[(n - 1) // len(words.CITIES) % 5]}",
                "city": city,
                "timezone": zone,
            }
            for n in range(1, self.plan.clinics + 1)
            for city, zone in [words.CITIES[(n - 1) % len(words.CITIES)]]
        ]

        def insert_clinics() -> int:
            with self.connect() as conn:
                conn.execute(insert(Clinic.__table__), clinics)
            return len(clinics)

        self.step("clinics", insert_clinics)
        password_hash = hash_password(current_app.config["DEMO_PASSWORD"])  # once, for everyone
        sizes = self.plan.sizes()
        users = self.task(sql.USERS, {**sizes, "password_hash": password_hash})
        self.step("users (all with one password hash)", users)
        self.step("doctors", self.task(sql.DOCTORS, sizes))
        self.step("patients", self.task(sql.PATIENTS, sizes))
        self.step("weekly rules (doctor_schedules)", self.task(sql.SCHEDULES, sizes))
        self.step("time off (schedule_exceptions)", self.task(sql.TIME_OFF, sizes))

    def appointment_chunks(self) -> list[tuple[str, Callable[[], int | None]]]:
        """The visit days in ranges, each range split among the connections by doctor."""
        params = self.plan.appointment_params()
        days = (self.plan.last_day - self.plan.first_day).days + 1
        bounds = [days * n // APPOINTMENT_CHUNKS for n in range(APPOINTMENT_CHUNKS + 1)]
        chunks = []
        for n, (start, end) in enumerate(pairwise(bounds)):
            from_day = self.plan.first_day + timedelta(days=start)
            to_day = self.plan.first_day + timedelta(days=end - 1)
            for stream in range(WORKERS):
                name = f"appointments {from_day}..{to_day}, doctors {stream} mod {WORKERS}"
                days_and_doctors = {"from_day": from_day, "to_day": to_day, **spread(stream)}
                seed = (n * WORKERS + stream) / (APPOINTMENT_CHUNKS * WORKERS)
                chunks.append(
                    (name, self.task(sql.APPOINTMENTS, {**params, **days_and_doctors}, seed=seed))
                )
        return chunks

    def record_params(self) -> dict:
        """Bind values of the records: phrases, and how many jsonb documents per diagnosis."""
        variants = max(10, min(RECORD_DATA_VARIANTS, self.plan.records // 200))
        return {**record_text_params(), "variants": variants}

    def record_source(self) -> int:
        """Number the completed visits that get a record (about one in four)."""
        with self.connect() as conn:
            completed = conn.scalar(text(sql.COMPLETED_VISITS))
            share = min(1.0, self.plan.records / max(completed, 1))
            params = {"share": share, "specializations": list(SPECIALIZATIONS)}
            conn.execute(text(sql.RECORD_SOURCE), params)
            return conn.scalar(text("SELECT count(*) FROM scale_record_source"))

    def record_chunks(self, count: int | None) -> list[tuple[str, Callable[[], int | None]]]:
        """The records in ranges of ids, so that the connections share the work."""
        params = self.record_params()
        return [
            (
                f"medical records {first:,}-{min(count, first + RECORD_CHUNK - 1):,}",
                self.task(
                    sql.RECORDS,
                    {**params, "first_id": first, "last_id": first + RECORD_CHUNK - 1},
                    seed=first / (count + 1),
                ),
            )
            for first in range(1, (count or 0) + 1, RECORD_CHUNK)
        ]

    def finish(self) -> None:
        """Sequences past the loaded ids, scratch tables gone, fresh planner statistics."""
        with self.connect() as conn:
            conn.exec_driver_sql(sql.DROP_FOR_LOAD[0])  # the scratch tables
            for table in db.metadata.sorted_tables:
                if "id" in table.c:
                    sequence = func.pg_get_serial_sequence(table.name, "id")
                    next_id = func.coalesce(func.max(table.c.id), 0) + 1
                    conn.execute(select(func.setval(sequence, next_id, False)))
            tables = ", ".join(table.name for table in db.metadata.sorted_tables)
            conn.exec_driver_sql(f"ANALYZE {tables}")
