"""The OpenAPI 3.1 description at /api/openapi.json covers every endpoint, every answer."""

import pytest

# The error statuses each operation must document, beyond 503 (everywhere).
ERRORS = {
    ("post", "/api/auth/register"): {400, 409, 422, 429},
    ("post", "/api/auth/login"): {400, 401, 422, 429},
    ("post", "/api/auth/refresh"): {400, 401, 422},
    ("post", "/api/auth/logout"): {400, 422},
    ("get", "/api/specializations"): set(),
    ("get", "/api/clinics"): {400, 422},
    ("get", "/api/appointments/search"): {400, 401, 422},
    ("post", "/api/appointments"): {400, 401, 403, 409, 422},
    ("post", "/api/appointments/{appointment_id}/cancel"): {401, 403, 404, 409},
    ("post", "/api/appointments/{appointment_id}/video-token"): {401, 403, 404, 409},
    ("get", "/api/patients/{patient_id}/appointments"): {400, 401, 403, 404, 422},
    ("get", "/api/patients/{patient_id}/medical-records"): {400, 401, 403, 404, 422},
    ("get", "/api/doctors/{doctor_id}/schedule"): {401, 403, 404, 422},
}
PUBLIC = {
    "/api/auth/register",
    "/api/auth/login",
    "/api/auth/refresh",
    "/api/auth/logout",
    "/api/specializations",
    "/api/clinics",
}


@pytest.fixture
def spec(client) -> dict:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200 and response.is_json
    return response.get_json()


def operations(spec: dict):
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            yield method, path, operation


def test_the_spec_is_openapi_3_1_with_bearer_authentication(spec):
    assert spec["openapi"].startswith("3.1")
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }


def test_the_spec_has_exactly_the_endpoints_of_design_md(spec, app):
    assert {(method, path) for method, path, _ in operations(spec)} == set(ERRORS)
    routes = {
        (method.lower(), str(rule).replace("<int:", "{").replace(">", "}"))
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("api.") and rule.endpoint != "api.openapi"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert routes == set(ERRORS)


def test_every_operation_documents_its_success_and_every_error_in_the_error_shape(spec):
    error_ref = "#/components/schemas/ErrorOut"
    for method, path, operation in operations(spec):
        responses = operation["responses"]
        documented = {int(code) for code in responses if code.startswith(("4", "5"))}
        assert ERRORS[(method, path)] | {503} <= documented, (method, path)
        for code in ERRORS[(method, path)] | {503}:
            schema = responses[str(code)]["content"]["application/json"]["schema"]
            assert schema == {"$ref": error_ref}, (method, path, code)
        successes = [code for code in responses if code.startswith("2")]
        assert len(successes) == 1, (method, path)
        if successes[0] != "204":
            assert "$ref" in responses[successes[0]]["content"]["application/json"]["schema"]
    error = spec["components"]["schemas"]["ErrorOut"]
    detail = spec["components"]["schemas"]["ErrorDetail"]
    assert error["required"] == ["error"]
    assert set(detail["required"]) == {"code", "message", "fields"}


def test_every_body_and_parameter_has_a_schema_and_bodies_refuse_unknown_fields(spec):
    schemas = spec["components"]["schemas"]
    for method, path, operation in operations(spec):
        for parameter in operation.get("parameters", []):
            assert parameter["schema"].get("type") in {"integer", "string"}, (path, parameter)
            assert (
                "default" not in parameter["schema"] or parameter["schema"]["default"] is not None
            )
        if method == "post" and "{" not in path:
            ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            body = schemas[ref.rsplit("/", 1)[1]]
            assert body["additionalProperties"] is False, path
            assert operation["requestBody"]["required"] is True


def test_protected_operations_ask_for_a_bearer_token_and_public_ones_do_not(spec):
    for _, path, operation in operations(spec):
        if path in PUBLIC:
            assert not operation.get("security"), path
        else:
            assert operation["security"] == [{"bearerAuth": []}], path


def test_ids_and_limits_are_bounded_in_the_spec(spec):
    for _, _path, operation in operations(spec):
        for parameter in operation.get("parameters", []):
            schema = parameter["schema"]
            if parameter["in"] == "path":
                assert schema["minimum"] == 1
                bigint = parameter["name"] == "appointment_id"
                assert schema["maximum"] == (2**63 - 1 if bigint else 2**31 - 1)
            if parameter["name"] == "limit":
                assert (schema["minimum"], schema["maximum"], schema["default"]) == (1, 100, 20)
