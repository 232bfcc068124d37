"""Migrations build the whole model from empty and take it down again, on PostgreSQL."""

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from portal import create_app
from portal.config import TestConfig
from tests.conftest import recreate_database

EXPECTED_INDEXES = {
    "appointments": {"ix_appointments_patient_starts", "ix_appointments_doctor_starts"},
    "medical_records": {
        "ix_medical_records_patient_created",
        "ix_medical_records_patient_type_created",
    },
    "doctors": {"ix_doctors_specialization_clinic"},
    "doctor_schedules": {"ix_doctor_schedules_doctor_weekday"},
}


@pytest.fixture
def scratch_url(database_url):
    url = make_url(database_url).set(database=make_url(database_url).database + "_migrations")
    rendered = url.render_as_string(hide_password=False)
    recreate_database(rendered)
    return rendered


def test_upgrade_from_empty_and_downgrade_to_base(scratch_url):
    app = create_app(type("C", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": scratch_url}))
    engine = create_engine(scratch_url)
    with app.app_context():
        upgrade()
        inspector = inspect(engine)
        assert {"users", "appointments", "medical_records", "audit_log", "notifications"} <= set(
            inspector.get_table_names()
        )
        for table, names in EXPECTED_INDEXES.items():
            assert names <= {ix["name"] for ix in inspector.get_indexes(table)}, table
        with engine.connect() as conn:
            constraint = conn.scalar(
                text(
                    "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE conname = 'ex_appointments_doctor_no_overlap'"
                )
            )
            assert "EXCLUDE USING gist" in constraint
            assert conn.scalar(
                text("SELECT count(*) FROM pg_trigger WHERE tgname = 'audit_log_append_only'")
            )

        downgrade(revision="base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade()  # and up again: the downgrade left nothing behind that blocks it
    engine.dispose()
