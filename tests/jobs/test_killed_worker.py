"""A real `rq worker` killed (SIGKILL) in the middle of a batch, then the job run again."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path

from jobs.notifications import send_due
from jobs.reminders import send_reminders
from portal.config import TestConfig
from tests.factories import gen_clinic
from tests.jobs.data import load_day, outbox_rows, outbox_statuses

ROOT = Path(__file__).resolve().parents[2]
RQ = str(Path(sys.executable).parent / "rq")
DAY = date(2026, 12, 1)
QUEUE_ARGS = ["--url", TestConfig.REDIS_URL, TestConfig.RQ_QUEUE]


def start_worker(env: dict, log: Path) -> subprocess.Popen:
    """`rq worker --burst` as production runs it, in a process group of its own."""
    return subprocess.Popen(
        [RQ, "worker", "--burst", "--worker-class", "jobs.app.AppWorker", *QUEUE_ARGS],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def kill_worker_and_horse(worker: subprocess.Popen) -> None:
    """SIGKILL the worker and its work-horse (RQ puts the horse in a process group of its own)."""
    horses = subprocess.run(["pgrep", "-P", str(worker.pid)], capture_output=True, text=True)
    for pid in horses.stdout.split():
        os.killpg(int(pid), signal.SIGKILL)
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(10)


def wait_for(condition, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.05)


def test_a_worker_killed_mid_batch_and_run_again_sends_every_reminder_exactly_once(
    app, providers, ses_proxy, rq_queue, run_worker, tmp_path, monkeypatch
):
    providers.point_ses_at(ses_proxy.url)
    ses_proxy.hold_call(3)  # the third SES call of the batch is in flight when the worker dies
    load_day(app, [gen_clinic()], DAY, 300)  # one sending job: six calls of 50

    rq_queue.enqueue(send_reminders, DAY.isoformat())
    worker = start_worker(providers.env(PROVIDER_TIMEOUT=30), tmp_path / "worker.log")
    try:
        assert ses_proxy.held.wait(60), (tmp_path / "worker.log").read_text()
    finally:
        kill_worker_and_horse(worker)  # mid-call
    ses_proxy.release.set()  # the request had reached SES: it is processed all the same
    wait_for(lambda: len(providers.ses.bulk_calls()) == 3)
    assert outbox_statuses(app) == {
        ("email", "sent"): 100,
        ("email", "sending"): 50,
        ("email", "pending"): 150,
    }

    # Run it again: the sweep (as cron would, once the claim is stale) and the reminders job.
    monkeypatch.setitem(app.config, "OUTBOX_STALE_SECONDS", 0)
    rq_queue.enqueue(send_due)
    rq_queue.enqueue(send_reminders, DAY.isoformat())
    run_worker()

    delivered = Counter(providers.ses.recipients())
    assert len(delivered) == 300
    assert set(delivered.values()) == {1}  # every reminder reached SES exactly once
    assert outbox_statuses(app) == {("email", "sent"): 250, ("email", "failed"): 50}
    in_doubt = outbox_rows(app, status="failed")
    assert {row.error for row in in_doubt} == {
        "delivery unknown: the job stopped during the provider call"
    }
    held_call = providers.ses.bulk_calls()[2]
    assert {row.recipient for row in in_doubt} == {
        d["Destination"]["ToAddresses"][0] for d in held_call["destinations"]
    }
