"""The value types of availability: a slot, and a weekly rule."""

from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo


@dataclass(frozen=True, order=True)
class Slot:
    """A bookable interval, in UTC."""

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
