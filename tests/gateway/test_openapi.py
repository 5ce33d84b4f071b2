"""The OpenAPI document says what the gateway really answers (schemathesis fuzzes against it)."""

from __future__ import annotations

import jsonschema
import pytest


@pytest.fixture
def spec(api):  # type: ignore[no-untyped-def]
    return api.get("/openapi.json").json()


def _resolve(spec: dict, schema: dict) -> dict:  # type: ignore[type-arg]
    """The schema with `#/components/...` references resolvable by jsonschema."""
    return {**schema, "components": spec["components"]}


def test_validation_errors_match_the_documented_shape(api, spec):
    response = api.post("/api/tickets/create", json={"customer_email": "nope"})
    assert response.status_code == 422
    body = response.json()
    assert "customer_email" in body["detail"] and "subject" in body["detail"]
    jsonschema.validate(body, _resolve(spec, spec["components"]["schemas"]["HTTPValidationError"]))


def test_error_bodies_match_the_documented_shape(api, spec):
    response = api.get("/api/tickets/TKT-20250101-DEADBEEF")
    assert response.status_code == 404
    documented = spec["paths"]["/api/tickets/{ticket_id}"]["get"]["responses"]["404"]
    schema = documented["content"]["application/json"]["schema"]
    jsonschema.validate(response.json(), _resolve(spec, schema))
    assert "TKT-20250101-DEADBEEF" in response.json()["detail"]


def test_every_operation_documents_its_errors(spec):
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            if operation.get("security"):
                assert {"401", "403", "429"} <= codes, (method, path)
            if "{" in path and not path.startswith("/api/forecast/"):  # relayed: the forecast service's 422
                assert "404" in codes, (method, path)
    # An agent's or integration's write that claims the ticket as read (`claim_as_read`) may answer "retry".
    for method, path in [
        ("put", "/api/tickets/{ticket_id}/status"),
        ("put", "/api/tickets/{ticket_id}/category"),
        ("put", "/api/tickets/{ticket_id}/priority"),
        ("post", "/api/tickets/{ticket_id}/review"),
        ("post", "/api/tickets/{ticket_id}/satisfaction"),
    ]:
        assert "kept changing" in spec["paths"][path][method]["responses"]["409"]["description"], (method, path)


def test_offsets_are_bounded(api):
    response = api.get("/api/tickets/", params={"offset": 10**12})
    assert response.status_code == 422 and "offset" in response.json()["detail"]


def test_relayed_forecast_operations_are_listed_with_the_relays_own_answers(spec):
    relayed = {path for path in spec["paths"] if path.startswith("/api/forecast/")}
    assert relayed == {
        "/api/forecast/hourly/{hours}",
        "/api/forecast/daily/{days}",
        "/api/forecast/staffing/current",
        "/api/forecast/model/info",
        "/api/forecast/train",
    }
    for path in relayed:
        for operation in spec["paths"][path].values():
            assert {"401", "403", "429", "502", "503", "504"} <= set(operation["responses"]), path
            ok = operation["responses"]["200" if "get" in spec["paths"][path] else "202"]
            ref = ok["content"]["application/json"]["schema"]["$ref"]  # typed, not a free-form object
            assert ref.rsplit("/", 1)[-1] in spec["components"]["schemas"], (path, ref)
    (hours,) = spec["paths"]["/api/forecast/hourly/{hours}"]["get"]["parameters"]
    assert (hours["schema"]["minimum"], hours["schema"]["maximum"]) == (1, 168)
    assert "post" in spec["paths"]["/api/forecast/train"]


def test_the_gateways_copy_of_the_forecast_document_is_current():
    """The gateway installs no forecasting library, so it lists the relayed paths from a copy."""
    from forecast_service.openapi import COPY, document, render

    assert COPY.read_text() == render(document()), "stale copy: run `python -m forecast_service.openapi`"


def test_405_lists_every_documented_method_of_the_path(api):
    response = api.patch("/api/kb/articles/kb_001")
    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET, HEAD" and "PATCH" in response.json()["detail"]
