"""`flask jobs ...`: the periodic jobs by hand, and a clinic's outbox for its operators."""

from datetime import date

from tests.factories import gen_clinic, gen_doctor, gen_schedule
from tests.jobs.data import load_day, outbox_rows, outbox_statuses

DAY = date(2026, 12, 1)


def test_reminders_command_plans_a_given_day_and_the_worker_sends_it(
    app, providers, runner, run_worker
):
    load_day(app, [gen_clinic()], DAY, 70)

    result = runner.invoke(args=["jobs", "reminders", "--date", "2026-12-01"])

    assert result.exit_code == 0, result.output
    assert "queued=70, jobs=1" in result.output
    run_worker()
    assert outbox_statuses(app) == {("email", "sent"): 70}
    assert len(providers.ses.bulk_calls()) == 2


def test_reminders_command_refuses_a_malformed_date(app, runner):
    result = runner.invoke(args=["jobs", "reminders", "--date", "01/12/2026"])
    assert result.exit_code == 2
    assert "Invalid value for '--date'" in result.output


def test_notifications_lists_a_clinics_failures_and_retries_them(
    app, providers, ses_proxy, runner, run_worker, monkeypatch
):
    providers.point_ses_at(ses_proxy.url)
    monkeypatch.setitem(app.config, "OUTBOX_MAX_ATTEMPTS", 1)
    ses_proxy.throttle_next(1)
    clinic, other = gen_clinic(), gen_clinic()
    load_day(app, [clinic], DAY, 3)
    load_day(app, [other], DAY, 2)
    assert runner.invoke(args=["jobs", "reminders", "--date", "2026-12-01"]).exit_code == 0
    run_worker()
    failed_ids = {row.id for row in outbox_rows(app, status="failed")}
    assert len(failed_ids) == 5  # one throttled call, and one attempt allowed

    listing = runner.invoke(args=["jobs", "notifications", "--clinic", str(clinic.id)])

    assert listing.exit_code == 0, listing.output
    assert "queued=0 failed=3 sent=0" in listing.output
    assert listing.output.count("gave up after 1 attempts: SES Throttling") == 3

    monkeypatch.setitem(app.config, "OUTBOX_MAX_ATTEMPTS", 6)
    retried = runner.invoke(
        args=["jobs", "notifications", "--clinic", str(clinic.id), "--retry-failed"]
    )
    assert "retrying 3 failed notifications" in retried.output
    run_worker()
    sent = runner.invoke(
        args=["jobs", "notifications", "--clinic", str(clinic.id), "--status", "sent"]
    )
    assert "queued=0 failed=0 sent=3" in sent.output
    assert outbox_statuses(app) == {("email", "sent"): 3, ("email", "failed"): 2}


def test_retry_failed_leaves_rows_of_unknown_delivery_unless_asked(
    app, providers, ses_proxy, runner, run_worker
):
    providers.point_ses_at(ses_proxy.url)
    ses_proxy.garbage_next(1)
    clinic = gen_clinic()
    load_day(app, [clinic], DAY, 2)
    runner.invoke(args=["jobs", "reminders", "--date", "2026-12-01"])
    run_worker()

    plain = ["jobs", "notifications", "--clinic", str(clinic.id), "--retry-failed"]
    assert "retrying 0 failed" in runner.invoke(args=plain).output
    forced = runner.invoke(args=[*plain, "--include-unknown"])
    assert "retrying 2 failed" in forced.output
    run_worker()
    assert outbox_statuses(app) == {("email", "sent"): 2}
    assert len(providers.ses.recipients()) == 4  # the operator chose to send twice


def test_video_rooms_and_send_due_commands_run_their_jobs(app, providers, runner):
    rooms = runner.invoke(args=["jobs", "video-rooms"])
    sweep = runner.invoke(args=["jobs", "send-due"])

    assert rooms.exit_code == 0 and "ready=0" in rooms.output
    assert sweep.exit_code == 0 and "recovered=0, queued=0" in sweep.output


def test_warm_cache_command_fills_the_cache(app, runner):
    gen_schedule(gen_doctor(gen_clinic(timezone="UTC")))

    first = runner.invoke(args=["jobs", "warm-cache", "--days", "2"])
    again = runner.invoke(args=["jobs", "warm-cache", "--days", "2"])

    assert first.exit_code == 0, first.output
    assert "doctors=1, filled=2, already_warm=0" in first.output
    assert "doctors=1, filled=0, already_warm=2" in again.output
