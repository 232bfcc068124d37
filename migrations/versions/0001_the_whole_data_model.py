"""The whole data model.

DESIGN.md's tables with their indexes, the booking exclusion constraint and the append-only
audit trigger.

Each index names the query it serves. PostgreSQL-only pieces are guarded by the dialect; the
embedded SQLite default gets the fallbacks DESIGN.md names.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Stamp = sa.DateTime(timezone=True)


def _is_postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade():
    op.create_table(
        "clinics",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("city", sa.String(120), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
    )
    # Search by city; the clinic list filtered by city.
    op.create_index("ix_clinics_city", "clinics", ["city"])

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column(
            "clinic_id",
            sa.Integer(),
            sa.ForeignKey("clinics.id", name="fk_users_clinic_id_clinics"),
        ),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("password_changed_at", Stamp, nullable=False),
        sa.CheckConstraint("role IN ('patient', 'doctor', 'clinic_admin')", name="role"),
        sa.CheckConstraint(
            "role <> 'clinic_admin' OR clinic_id IS NOT NULL",
            name="admin_has_clinic",
        ),
        # Sign-in by email.
        sa.UniqueConstraint("email", name="uq_users_email"),
    )
    # The admins of a clinic.
    op.create_index("ix_users_clinic_id", "users", ["clinic_id"])

    op.create_table(
        "doctors",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey("users.id", name="fk_doctors_user_id_users"),
            nullable=False,
        ),
        sa.Column(
            "clinic_id",
            sa.Integer(),
            sa.ForeignKey("clinics.id", name="fk_doctors_clinic_id_clinics"),
            nullable=False,
        ),
        sa.Column("full_name", sa.String(200), nullable=False),
        sa.Column("specialization", sa.String(80), nullable=False),
        sa.Column("consultation_fee", sa.Numeric(10, 2), nullable=False),
        sa.UniqueConstraint("user_id", name="uq_doctors_user_id"),
    )
    # The doctors of a clinic (admin pages, clinic calendar).
    op.create_index("ix_doctors_clinic_id", "doctors", ["clinic_id"])
    # Search: the doctors of one specialization, narrowed by clinic (and so by city).
    op.create_index("ix_doctors_specialization_clinic", "doctors", ["specialization", "clinic_id"])

    op.create_table(
        "patients",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey("users.id", name="fk_patients_user_id_users"),
            nullable=False,
        ),
        sa.Column("full_name", sa.String(200), nullable=False),
        sa.Column("birth_date", sa.Date()),
        sa.Column("phone", sa.String(32)),
        sa.Column("notify_email", sa.Boolean(), nullable=False),
        sa.Column("notify_sms", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("user_id", name="uq_patients_user_id"),
    )

    op.create_table(
        "refresh_tokens",
        sa.Column("id", BigId, primary_key=True),
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey("users.id", name="fk_refresh_tokens_user_id_users"),
            nullable=False,
        ),
        sa.Column("family", sa.String(36), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("issued_at", Stamp, nullable=False),
        sa.Column("expires_at", Stamp, nullable=False),
        sa.Column("family_expires_at", Stamp, nullable=False),
        sa.Column("spent_at", Stamp),
        sa.Column("revoked_at", Stamp),
        # Refresh: look a presented token up by its hash.
        sa.UniqueConstraint("token_hash", name="uq_refresh_tokens_token_hash"),
    )
    # Revoke a whole family (reuse detected, logout).
    op.create_index("ix_refresh_tokens_family", "refresh_tokens", ["family"])
    # Revoke everything of a user (deactivation, password change).
    op.create_index("ix_refresh_tokens_user", "refresh_tokens", ["user_id"])

    op.create_table(
        "appointments",
        sa.Column("id", BigId, primary_key=True),
        sa.Column(
            "patient_id",
            sa.Integer(),
            sa.ForeignKey("patients.id", name="fk_appointments_patient_id_patients"),
            nullable=False,
        ),
        sa.Column(
            "doctor_id",
            sa.Integer(),
            sa.ForeignKey("doctors.id", name="fk_appointments_doctor_id_doctors"),
            nullable=False,
        ),
        sa.Column("starts_at", Stamp, nullable=False),
        sa.Column("ends_at", Stamp, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("checked_in_at", Stamp),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("updated_at", Stamp, nullable=False),
        sa.CheckConstraint("ends_at > starts_at", name="ends_after_starts"),
        sa.CheckConstraint(
            "status IN ('scheduled', 'completed', 'cancelled', 'no_show')",
            name="status",
        ),
        sa.CheckConstraint("kind IN ('in_person', 'video')", name="kind"),
    )
    # A patient's history, newest first, keyset over (starts_at, id): GET .../appointments.
    op.create_index(
        "ix_appointments_patient_starts",
        "appointments",
        ["patient_id", sa.text("starts_at DESC"), sa.text("id DESC")],
    )
    # A doctor's day schedule, and availability over a window for a set of doctors.
    op.create_index("ix_appointments_doctor_starts", "appointments", ["doctor_id", "starts_at"])
    if _is_postgres():
        # No double booking, ever: the active appointments of one doctor never overlap,
        # whatever the slot lengths. SQLSTATE 23P01 becomes a 409.
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        op.execute(
            "ALTER TABLE appointments ADD CONSTRAINT ex_appointments_doctor_no_overlap "
            "EXCLUDE USING gist (doctor_id WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&) "
            "WHERE (status <> 'cancelled')"
        )
    else:
        # The embedded default: one active appointment per (doctor, start); bookings write in
        # one immediate transaction.
        op.create_index(
            "ux_appointments_doctor_slot",
            "appointments",
            ["doctor_id", "starts_at"],
            unique=True,
            sqlite_where=sa.text("status <> 'cancelled'"),
        )

    op.create_table(
        "audit_log",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("at", Stamp, nullable=False),
        sa.Column(
            "actor_id",
            sa.Integer(),
            sa.ForeignKey("users.id", name="fk_audit_log_actor_id_users"),
        ),
        sa.Column("actor_role", sa.String(20), nullable=False),
        sa.Column(
            "patient_id",
            sa.Integer(),
            sa.ForeignKey("patients.id", name="fk_audit_log_patient_id_patients"),
        ),
        sa.Column("record_ids", Json),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("address", sa.String(64)),
        sa.Column("request_id", sa.String(64)),
    )
    # "Who read this patient's records?", newest first.
    op.create_index("ix_audit_log_patient_at", "audit_log", ["patient_id", sa.text("at DESC")])
    if _is_postgres():
        op.execute(
            """
            CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
                    USING ERRCODE = 'insufficient_privilege';
            END $$
            """
        )
        op.execute(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
        )
    else:
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{operation.lower()} BEFORE {operation} ON audit_log "
                "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
            )

    op.create_table(
        "doctor_schedules",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "doctor_id",
            sa.Integer(),
            sa.ForeignKey("doctors.id", name="fk_doctor_schedules_doctor_id_doctors"),
            nullable=False,
        ),
        sa.Column("weekday", sa.SmallInteger(), nullable=False),
        sa.Column("start_time", sa.Time(), nullable=False),
        sa.Column("end_time", sa.Time(), nullable=False),
        sa.Column("slot_minutes", sa.SmallInteger(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date()),
        sa.CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday"),
        sa.CheckConstraint("end_time > start_time", name="end_after_start"),
        sa.CheckConstraint(
            "slot_minutes IN (10, 15, 20, 30, 45, 60)",
            name="slot_minutes",
        ),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to >= valid_from",
            name="valid_range",
        ),
    )
    # Availability: the weekly rules of a set of doctors for the weekdays of a date range.
    op.create_index(
        "ix_doctor_schedules_doctor_weekday",
        "doctor_schedules",
        ["doctor_id", "weekday"],
    )

    op.create_table(
        "schedule_exceptions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "doctor_id",
            sa.Integer(),
            sa.ForeignKey("doctors.id", name="fk_schedule_exceptions_doctor_id_doctors"),
            nullable=False,
        ),
        sa.Column("starts_at", Stamp, nullable=False),
        sa.Column("ends_at", Stamp, nullable=False),
        sa.Column("reason", sa.String(200)),
        sa.CheckConstraint("ends_at > starts_at", name="ends_after_starts"),
    )
    # Availability: a doctor's time off overlapping a window.
    op.create_index(
        "ix_schedule_exceptions_doctor_starts",
        "schedule_exceptions",
        ["doctor_id", "starts_at"],
    )

    op.create_table(
        "medical_records",
        sa.Column("id", BigId, primary_key=True),
        sa.Column(
            "patient_id",
            sa.Integer(),
            sa.ForeignKey("patients.id", name="fk_medical_records_patient_id_patients"),
            nullable=False,
        ),
        sa.Column(
            "doctor_id",
            sa.Integer(),
            sa.ForeignKey("doctors.id", name="fk_medical_records_doctor_id_doctors"),
            nullable=False,
        ),
        sa.Column(
            "appointment_id",
            BigId,
            sa.ForeignKey("appointments.id", name="fk_medical_records_appointment_id_appointments"),
        ),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("record_type", sa.String(32), nullable=False),
        sa.Column("diagnosis", sa.Text()),
        sa.Column("prescription", sa.Text()),
        sa.Column("data", Json),
        sa.Column(
            "supersedes_id",
            BigId,
            sa.ForeignKey(
                "medical_records.id",
                name="fk_medical_records_supersedes_id_medical_records",
            ),
        ),
        # An amendment supersedes exactly one record, and a record is amended at most once.
        sa.UniqueConstraint("supersedes_id", name="uq_medical_records_supersedes_id"),
    )
    # A patient's records, newest first, keyset over (created_at, id).
    op.create_index(
        "ix_medical_records_patient_created",
        "medical_records",
        ["patient_id", sa.text("created_at DESC"), sa.text("id DESC")],
    )
    # The same, filtered by record type.
    op.create_index(
        "ix_medical_records_patient_type_created",
        "medical_records",
        ["patient_id", "record_type", sa.text("created_at DESC")],
    )

    op.create_table(
        "notifications",
        sa.Column("id", BigId, primary_key=True),
        sa.Column(
            "appointment_id",
            BigId,
            sa.ForeignKey("appointments.id", name="fk_notifications_appointment_id_appointments"),
            nullable=False,
        ),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("idempotency_key", sa.String(120), nullable=False),
        sa.Column("recipient", sa.String(254)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.SmallInteger(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("provider_message_id", sa.String(100)),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("next_attempt_at", Stamp, nullable=False),
        sa.Column("claimed_at", Stamp),
        sa.Column("sent_at", Stamp),
        sa.CheckConstraint("channel IN ('email', 'sms')", name="channel"),
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'failed')",
            name="status",
        ),
        # One message per (appointment, kind, channel): a retried job never sends twice.
        sa.UniqueConstraint("idempotency_key", name="uq_notifications_idempotency_key"),
    )
    # The notifications of an appointment (operations page, cleanup).
    op.create_index("ix_notifications_appointment", "notifications", ["appointment_id"])
    # The relay and retries: unsent rows due now, oldest first.
    op.create_index(
        "ix_notifications_unsent",
        "notifications",
        ["next_attempt_at"],
        postgresql_where=sa.text("status IN ('pending', 'sending')"),
        sqlite_where=sa.text("status IN ('pending', 'sending')"),
    )

    op.create_table(
        "video_rooms",
        sa.Column("id", BigId, primary_key=True),
        sa.Column(
            "appointment_id",
            BigId,
            sa.ForeignKey("appointments.id", name="fk_video_rooms_appointment_id_appointments"),
            nullable=False,
        ),
        sa.Column("room_name", sa.String(100), nullable=False),
        sa.Column("provider_room_id", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.SmallInteger(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("updated_at", Stamp, nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'ready', 'failed', 'closed')",
            name="status",
        ),
        # One room per appointment; the room name is derived from it, so a repeat finds it.
        sa.UniqueConstraint("appointment_id", name="uq_video_rooms_appointment_id"),
        sa.UniqueConstraint("room_name", name="uq_video_rooms_room_name"),
    )


def downgrade():
    for table in (
        "video_rooms",
        "notifications",
        "medical_records",
        "schedule_exceptions",
        "doctor_schedules",
        "audit_log",
        "appointments",
        "refresh_tokens",
        "patients",
        "doctors",
        "users",
        "clinics",
    ):
        op.drop_table(table)
    if _is_postgres():
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
