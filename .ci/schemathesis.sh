#!/usr/bin/env bash
# Fuzz the JSON API with schemathesis: every default check, against the real app under
# gunicorn on a fresh, migrated database with the demo data, signed in as the demo patient.
# Bounded in time by the number of examples per operation (SCHEMATHESIS_MAX_EXAMPLES).
# Needs PostgreSQL and Redis up (as .ci/run makes sure) and the venv installed.
set -euo pipefail
cd "$(dirname "$0")/.."

DB=portal_ci_api
REDIS_DB=${SCHEMATHESIS_REDIS_DB:-13}
MAX_EXAMPLES=${SCHEMATHESIS_MAX_EXAMPLES:-25}
PY=.venv/bin/python
PORT=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE=http://127.0.0.1:$PORT
LOG=$(mktemp -t schemathesis-gunicorn.XXXXXX.log)
export SCHEMATHESIS_CACHE_DIR=$(mktemp -d -t schemathesis-cache.XXXXXX)

export DATABASE_URL=postgresql://postgres@127.0.0.1:5432/$DB
export REDIS_URL=redis://127.0.0.1:6379/$REDIS_DB
export CACHE_KEY_PREFIX=portal-ci-api:cache: RQ_QUEUE=portal-ci-api
export SECRET_KEY=$($PY -c 'import secrets; print(secrets.token_urlsafe(48))')
export DEMO_PASSWORD=ci-demo-password-2026 FLASK_APP=wsgi PORTAL_ENV=development

psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE $DB"
redis-cli -h 127.0.0.1 -p 6379 -n "$REDIS_DB" flushdb >/dev/null  # this step's own Redis db
.venv/bin/flask db upgrade >/dev/null
.venv/bin/flask seed demo

.venv/bin/gunicorn wsgi:app --workers 2 --bind "127.0.0.1:$PORT" --log-file "$LOG" &
GUNICORN=$!
trap 'kill "$GUNICORN" 2>/dev/null; wait "$GUNICORN" 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  curl -fsS "$BASE/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done

TOKEN=$(curl -fsS -X POST "$BASE/api/auth/login" -H 'Content-Type: application/json' \
  -d "{\"email\": \"patient@example.com\", \"password\": \"$DEMO_PASSWORD\"}" |
  $PY -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')

status=0
# One worker: schemathesis' coverage phase parses lambdas with ast in each worker thread,
# which CPython 3.11 can fail at ("AST constructor recursion depth mismatch").
.venv/bin/schemathesis --config-file .ci/schemathesis.toml run "$BASE/api/openapi.json" \
  --header "Authorization: Bearer $TOKEN" \
  --max-examples "$MAX_EXAMPLES" --seed "${SCHEMATHESIS_SEED:-2026}" \
  --workers 1 --no-color "$@" || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- gunicorn log ---"
  tail -n 50 "$LOG"
  echo "(crash records for st replay: $SCHEMATHESIS_CACHE_DIR)"
else
  rm -rf "$SCHEMATHESIS_CACHE_DIR"
fi
rm -f "$LOG"
exit "$status"
