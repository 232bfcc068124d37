"""`flask db top` lists the statements that cost the most time."""

from flask_migrate import upgrade
from sqlalchemy import text

from portal import create_app
from portal.config import TestConfig
from portal.extensions import db


def test_db_top_lists_the_costliest_statements(app, own_postgres):
    class OwnDatabase(TestConfig):
        SQLALCHEMY_DATABASE_URI = own_postgres.url

    served = create_app(OwnDatabase)
    with served.app_context():
        upgrade()  # creates the extension: this server preloads the library
        for _ in range(5):
            db.session.execute(text("SELECT count(*) FROM appointments WHERE doctor_id = 42"))
        db.session.rollback()
    result = served.test_cli_runner().invoke(args=["db", "top", "--limit", "50"])
    assert result.exit_code == 0, result.output
    assert "total ms" in result.output
    assert "FROM appointments WHERE doctor_id" in result.output


def test_db_top_explains_how_to_enable_it_when_the_server_lacks_it(app):
    result = app.test_cli_runner().invoke(args=["db", "top"])
    with app.app_context():
        preloaded = (
            "pg_stat_statements"
            in db.session.execute(text("SHOW shared_preload_libraries")).scalar()
        )
    if preloaded:
        assert result.exit_code == 0
    else:
        assert result.exit_code != 0
        assert "shared_preload_libraries" in result.output
