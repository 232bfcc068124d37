"""pg_stat_statements, where the server allows it.

The extension's view only works when the server preloads the library
(shared_preload_libraries = 'pg_stat_statements', then a restart); creating the extension is
harmless either way, and a server without the package is left alone (README says how to
enable it). `flask db top` reads it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from alembic import op
from sqlalchemy import text

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    available = bind.execute(
        text("SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_stat_statements'")
    ).scalar()
    if available:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP EXTENSION IF EXISTS pg_stat_statements")
