"""What the search form offers (specializations, clinics) and the search itself."""

from flask import request

from portal.api.blueprint import bp
from portal.api.schemas import (
    ClinicsOut,
    ClinicsQuery,
    SearchOut,
    SearchQuery,
    SpecializationsOut,
)
from portal.api.security import bearer_required
from portal.api.serializers import clinic_out, search_result_out
from portal.api.spec import BEARER, ModelJSON, answers, api_spec
from portal.database import read_only
from portal.models import utcnow
from portal.services.directory import clinics_page
from portal.services.search import (
    parse_criteria,
    specializations,
)
from portal.services.search_results import cached_search

TAGS = ["search"]
# Part of the key of a cached search page: bump it when SearchOut's JSON changes shape.
SEARCH_JSON_VERSION = "1"


@bp.get("/specializations")
@read_only
@api_spec.validate(resp=answers(HTTP_200=SpecializationsOut), tags=TAGS)
def list_specializations():
    """Every specialization a doctor practises, alphabetically."""
    return SpecializationsOut(items=specializations())


@bp.get("/clinics")
@read_only
@api_spec.validate(query=ClinicsQuery, resp=answers(400, 422, HTTP_200=ClinicsOut), tags=TAGS)
def list_clinics():
    """Clinics by name, optionally in one city, a page at a time."""
    query: ClinicsQuery = request.context.query
    page = clinics_page(query.city, limit=query.limit, cursor=query.cursor)
    return ClinicsOut(items=[clinic_out(c) for c in page.items], next_cursor=page.next_cursor)


@bp.get("/appointments/search")
@read_only
@bearer_required()
@api_spec.validate(
    query=SearchQuery,
    resp=answers(400, 401, 422, HTTP_200=SearchOut),
    tags=TAGS,
    security=BEARER,
)
def search():
    """Doctors of a specialization in a city or clinic with their free slots, soonest first.

    At most 14 days at a time; a page of doctors (limit, default 20) with every free slot of
    each in the range. Pages are cached by exactly what they are made of (search_results.py).
    """
    query: SearchQuery = request.context.query
    now = utcnow()
    criteria = parse_criteria(
        query.specialization,
        query.date_from,
        query.date_to,
        today=now.date(),
        city=query.city,
        clinic_id=query.clinic_id,
    )
    body = cached_search(
        criteria,
        kind=f"api:search:{SEARCH_JSON_VERSION}",
        limit=query.limit,
        cursor=query.cursor,
        now=now,
        make=lambda page: SearchOut(
            items=[search_result_out(result) for result in page.items],
            next_cursor=page.next_cursor,
        ).model_dump_json(),
    )
    return ModelJSON(body)
