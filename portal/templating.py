"""Template filters: times in the clinic's zone with the zone named, money, labels, and the
structured details of a medical record."""

import html
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

from flask import Flask
from markupsafe import Markup, escape


def local_time(value: datetime | None, timezone: str, fmt: str = "%a %d %b %Y, %H:%M") -> str:
    """A UTC datetime shown in the given IANA zone, with the zone's abbreviation."""
    if value is None:
        return ""
    return wall_time(in_zone(value, timezone), fmt)


def time_tag(value: datetime, timezone: str) -> Markup:
    """A <time> element: the instant in ISO 8601 for machines, local_time for people, and the
    zone's name as its title. One filter call instead of three expressions a row."""
    return Markup(  # noqa: S704 (built of escaped pieces only)
        f'<time datetime="{value.isoformat()}" title="{escape(timezone)}">'
        f"{escape(local_time(value, timezone))}</time>"
    )


def in_zone(value: datetime, timezone: str) -> datetime:
    """A UTC datetime as the wall clock of an IANA zone (for wall_time and strftime)."""
    return value.astimezone(ZoneInfo(timezone))


def wall_time(local: datetime, fmt: str = "%a %d %b %Y, %H:%M") -> str:
    """A zoned datetime as local_time shows it, with the zone's abbreviation."""
    return f"{local.strftime(fmt)} {local.tzname()}"


def slot_items(slots, book_url: str, doctor_id: int, doctor_name: str, timezone: str) -> Markup:
    """A day's slots as the <li> booking links of a slot list (patients/_slots.html), each
    labelled with its local time and the doctor.

    A search page holds 400 of them. Written by a loop in the template (an escape, a filter or
    a strftime per piece of each link) they cost 7 us each, most of the CPU of a search page
    whose cards are not cached; here what repeats is escaped once and each link is one
    f-string, 2.9 us. The HTML is the template's byte for byte, its links url_for's and its
    labels wall_time's (tests/test_templating.py, tests/patients/test_slot_links.py).
    """
    zone = ZoneInfo(timezone)
    start = (
        f'<li><a role="button" class="outline slot" href="{escape(book_url)}'
        f"?doctor_id={escape(doctor_id)}&amp;starts_at="
    )
    name = escape(doctor_name)
    links = []
    for slot in slots:
        local = slot.starts_at.astimezone(zone)
        clock = f"{local.hour:02d}:{local.minute:02d}"
        label = (
            f"{_DAYS[local.weekday()]} {local.day:02d} {_MONTHS[local.month - 1]} {local.year}, "
            f"{clock} {local.tzname()}"
        )  # what wall_time writes ("%a %d %b %Y, %H:%M" and the zone), without strftime
        links.append(
            f"{start}{_iso_query_value(slot.starts_at)}"
            f'" aria-label="Book {escape(label)} with {name}">{clock}</a></li>'
        )
    return Markup("".join(links))  # noqa: S704 (built of escaped pieces only)


# strftime's %a and %b in the C locale, which the app never changes.
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _iso_query_value(moment: datetime) -> str:
    """An aware datetime's ISO form as url_for encodes it in a query: the form holds digits and
    "-:T.+" only, of which url_for encodes the "+" alone (and nothing needs escaping in HTML)."""
    return moment.isoformat().replace("+", "%2B")


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


# A record's details (jsonb) nest: vitals hold a blood pressure, labs are a list of results.
# Deeper than this they are shown as compact JSON text.
MAX_FACT_DEPTH = 4


def fact_entries(data: object) -> Markup:
    """A mapping's keys and values as <dt>/<dd> pairs, each value shown as fact_value does;
    nothing for anything but a mapping. Every key and value is escaped."""
    if not isinstance(data, Mapping):
        return Markup("")
    return Markup(_entries(data, 0))  # noqa: S704 (built of escaped pieces only)


def fact_value(value: object) -> Markup:
    """One value of a record's details for people: Yes/No, lists joined by commas, a list of
    like objects (lab results) as a table, an object as a nested list of facts. Escaped."""
    return Markup(_value(value, 0))  # noqa: S704 (built of escaped pieces only)


# The HTML below is joined as plain strings from escaped leaves and fixed tags: a page of
# records holds a thousand leaves or more (lab tables), and Markup's own % and join would
# escape every piece again. Text is escaped with html.escape (quotes too); numbers need none.


def _text(value: object) -> str:
    return html.escape(str(value))


@lru_cache(maxsize=1024)
def _label(key: str) -> str:
    """A key as a heading, escaped: keys repeat on every record."""
    return html.escape(humanize(key))


def _entries(data: Mapping, depth: int) -> str:
    parts = []
    for key, value in data.items():
        label = _label(str(key))
        parts.append(f"<dt>{label}</dt><dd>{_value(value, depth + 1, label)}</dd>")
    return "".join(parts)


def _value(value: object, depth: int, label: str = "Details") -> str:
    # Nearly every value is a leaf: their exact types first, then subclasses and the rest
    # (abc's Mapping check on every leaf cost a page's 20 records a third of their time).
    kind = type(value)
    if kind is str:
        return html.escape(value)
    if kind is float or kind is int or kind is Decimal:
        return str(value)  # digits, sign, point, exponent, inf or nan: nothing to escape
    if kind is bool:  # never subclassed
        return "Yes" if value else "No"
    if value is None:
        return "&mdash;"
    if isinstance(value, str):
        return html.escape(value)
    if isinstance(value, int | float | Decimal):
        return str(value)
    if depth >= MAX_FACT_DEPTH:
        return _text(json.dumps(value, default=str, ensure_ascii=False))
    if _is_mapping(value):
        return f'<dl class="facts">{_entries(value, depth)}</dl>' if value else "&mdash;"
    if isinstance(value, list | tuple):
        if value and all(_is_mapping(item) for item in value):
            return _table(value, depth, label)
        return ", ".join([_value(item, depth + 1) for item in value]) or "&mdash;"
    return _text(value)


def _is_mapping(value: object) -> bool:
    return type(value) is dict or isinstance(value, Mapping)  # a dict without abc's check


def _table(rows: list[Mapping], depth: int, label: str) -> str:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    head = "".join([f"<th>{_label(str(column))}</th>" for column in columns])
    depth += 1
    body = []
    for row in rows:
        cells = [
            f"<td>{_value(row[column], depth)}</td>" if column in row else "<td></td>"
            for column in columns
        ]
        body.append(f"<tr>{''.join(cells)}</tr>")
    # A region that may scroll sideways takes the keyboard focus (axe: scrollable-region-focusable).
    return (
        f'<div class="table-wrap" tabindex="0" role="region" aria-label="{label}">'
        '<table class="facts-table">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def init_templating(app: Flask) -> None:
    """Register the filters and the globals every template may use."""
    app.jinja_env.filters["local_time"] = local_time
    app.jinja_env.filters["time_tag"] = time_tag
    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["local_clock"] = local_clock
    app.jinja_env.filters["slot_items"] = slot_items
    app.jinja_env.filters["zone"] = zone_abbreviation
    app.jinja_env.filters["humanize"] = humanize
    app.jinja_env.filters["fact_entries"] = fact_entries
    app.jinja_env.filters["fact_value"] = fact_value
    app.jinja_env.globals["timedelta"] = timedelta


def compile_templates(app: Flask) -> int:
    """Compile every template now, so no request pays for it (~0.2 s of CPU here for all of
    them). wsgi.py calls it: under gunicorn's preload_app the workers fork with them compiled.
    Returns how many there are."""
    names = app.jinja_env.list_templates(extensions=("html",))
    for name in names:
        app.jinja_env.get_template(name)
    return len(names)
