"""Video room job: every minute, make the rooms of the video visits starting soon."""

from jobs.app import app_job, get_job_logger
from portal.services import video_rooms

log = get_job_logger("video_rooms")


@app_job
def prepare_video_rooms() -> dict:
    """Rooms for visits starting within VIDEO_ROOM_LEAD_MINUTES; phone fallback where too late."""
    run = video_rooms.prepare_rooms()
    log.info(
        "video rooms: %d ready, %d waiting, %d fell back to phone",
        run.ready,
        run.waiting,
        run.fell_back,
    )
    return {"ready": run.ready, "waiting": run.waiting, "fell_back": run.fell_back}
