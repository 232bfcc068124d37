"""The periodic jobs, for RQ's scheduler: `TZ=UTC rq cron jobs/cron.py -c jobs.rq_settings`.

RQ 3 reads cron strings in the process's local time, hence TZ=UTC: these times are UTC.
Each job can also be run by hand: `flask jobs reminders|video-rooms|notifications|warm-cache`.

| job | when | what |
|---|---|---|
| prepare_video_rooms | every minute | rooms for video visits starting in the next minutes |
| send_due | every minute | settles claims of killed jobs, sends rows whose retry is overdue |
| send_reminders_at_local_hour | hourly, at :00 | tomorrow's reminders of the clinics where it is REMINDER_LOCAL_HOUR |
| warm_cache | every 30 minutes | the next 7 days of availability in the cache |
"""

import os

from rq import cron

from jobs.cache_warmup import warm_cache
from jobs.notifications import send_due
from jobs.reminders import send_reminders_at_local_hour
from jobs.video_rooms import prepare_video_rooms

QUEUE = os.environ.get("RQ_QUEUE", "default")

cron.register(prepare_video_rooms, queue_name=QUEUE, cron="* * * * *", job_timeout=120)
cron.register(send_due, queue_name=QUEUE, cron="* * * * *", job_timeout=120)
cron.register(send_reminders_at_local_hour, queue_name=QUEUE, cron="0 * * * *", job_timeout=900)
cron.register(warm_cache, queue_name=QUEUE, cron="*/30 * * * *", job_timeout=900)
