"""Health endpoints for load balancers and orchestrators."""

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Blueprint, current_app
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from portal.extensions import db, migrate

bp = Blueprint("health", __name__)


@bp.route("/healthz")
def healthz():
    """The process answers (liveness): no dependency is touched."""
    return {"status": "ok"}


def _migrations_at_head() -> tuple[bool, str]:
    config = migrate.get_config()
    heads = set(ScriptDirectory.from_config(config).get_heads())
    with db.engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    return current == heads, ",".join(sorted(current)) or "none"


@bp.route("/readyz")
def readyz():
    """Ready for traffic: PostgreSQL and Redis answer and the schema is at the newest migration."""
    checks: dict[str, str] = {}
    ready = True
    try:
        db.session.execute(text("SELECT 1"))
        at_head, revision = _migrations_at_head()
        checks["database"] = "ok"
        checks["migrations"] = "at head" if at_head else f"behind (at {revision})"
        ready &= at_head
    except SQLAlchemyError as error:
        checks["database"] = f"error: {type(error).__name__}"
        ready = False
    finally:
        db.session.rollback()
    redis = current_app.extensions["redis"]
    if redis is None:
        checks["redis"] = "not configured (embedded default)"
    else:
        try:
            redis.ping()
            checks["redis"] = "ok"
        except (RedisError, OSError) as error:
            checks["redis"] = f"error: {type(error).__name__}"
            ready = False
    return {"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503
