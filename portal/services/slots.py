"""The value types of availability: a slot, and a weekly rule."""

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import NamedTuple
from zoneinfo import ZoneInfo


class Slot(NamedTuple):
    """A bookable interval, in UTC. A tuple: a search page makes a couple of thousand of them
    from the cache, and a tuple is several times cheaper to make than a frozen dataclass."""

    starts_at: datetime
    ends_at: datetime

    def local(self, timezone: str) -> datetime:
        return self.starts_at.astimezone(ZoneInfo(timezone))


@dataclass(frozen=True)
class Rule:
    weekday: int
    start_time: time
    end_time: time
    slot_minutes: int
    valid_from: date
    valid_to: date | None

    def applies_on(self, day: date) -> bool:
        return (
            self.weekday == day.weekday()
            and self.valid_from <= day
            and (self.valid_to is None or day <= self.valid_to)
        )
