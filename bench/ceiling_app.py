"""The bare web layer of PERFORMANCE.md, to measure this machine's ceiling beside our pages.

A Flask app with nothing of the portal in it: no session, no sign-in, no audit, no templates.
`/const` answers a constant JSON body; `/keyset` runs the history page's keyset query
(bench/naive.history_keyset's SQL, one round trip) for CEILING_PATIENT_ID and answers its
rows as JSON. bench/run.py's "ceiling" group serves it under gunicorn with the same number of
workers as the portal and drives it with wrk, so the portal's figures can be read as a share of
what Flask itself reaches on this machine today. Not part of the product.
"""

import os

import psycopg
from flask import Flask

from bench.naive import HISTORY_COLUMNS, HISTORY_FROM

SQL = (
    f"SELECT {HISTORY_COLUMNS} {HISTORY_FROM} WHERE a.patient_id = %s "
    "ORDER BY a.starts_at DESC, a.id DESC LIMIT 21"
)
PATIENT_ID = int(os.environ.get("CEILING_PATIENT_ID", "1"))
_connection: psycopg.Connection | None = None

app = Flask(__name__)


def _conn() -> psycopg.Connection:
    """One autocommit connection per worker, opened on first use."""
    global _connection
    if _connection is None or _connection.closed:
        _connection = psycopg.connect(os.environ["CEILING_DATABASE_URL"], autocommit=True)
    return _connection


@app.get("/healthz")
def healthz():
    return {"ok": True}


@app.get("/const")
def const():
    return {"items": [], "next_cursor": None}


@app.get("/keyset")
def keyset():
    rows = _conn().execute(SQL, (PATIENT_ID,)).fetchall()
    items = [
        {
            "id": row[0],
            "starts_at": row[1].isoformat(),
            "ends_at": row[2].isoformat(),
            "status": row[3],
            "kind": row[4],
            "reason": row[5],
            "doctor": {"full_name": row[6], "specialization": row[7]},
            "clinic": {"name": row[8], "city": row[9], "timezone": row[10]},
        }
        for row in rows[:20]
    ]
    return {"items": items, "next_cursor": str(rows[20][0]) if len(rows) > 20 else None}
