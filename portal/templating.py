"""Template filters: times in the clinic's zone with the zone named, money, labels."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import Flask


def local_time(value: datetime | None, timezone: str, fmt: str = "%a %d %b %Y, %H:%M") -> str:
    """A UTC datetime shown in the given IANA zone, with the zone's abbreviation."""
    if value is None:
        return ""
    local = value.astimezone(ZoneInfo(timezone))
    return f"{local.strftime(fmt)} {local.tzname()}"


def local_clock(value: datetime, timezone: str) -> str:
    """Only the local wall-clock time, e.g. 14:30 (the zone is named nearby)."""
    return value.astimezone(ZoneInfo(timezone)).strftime("%H:%M")


def zone_abbreviation(value: datetime, timezone: str) -> str:
    """The zone's abbreviation at that instant, e.g. EST or CEST."""
    return value.astimezone(ZoneInfo(timezone)).tzname() or timezone


def money(value: Decimal | float | None) -> str:
    """A fee, two decimals."""
    return "" if value is None else f"{Decimal(value):,.2f}"


def humanize(value: str | None) -> str:
    """snake_case codes as words: no_show → No show."""
    return (value or "").replace("_", " ").capitalize()


def init_templating(app: Flask) -> None:
    """Register the filters and the globals every template may use."""
    app.jinja_env.filters["local_time"] = local_time
    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["local_clock"] = local_clock
    app.jinja_env.filters["zone"] = zone_abbreviation
    app.jinja_env.filters["humanize"] = humanize
    app.jinja_env.globals["timedelta"] = timedelta
