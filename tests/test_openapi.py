"""The API's OpenAPI document: valid OpenAPI 3, and it covers what the API offers."""

from openapi_spec_validator import validate

EXPECTED_PATHS = {
    "/api/v1/clients",
    "/api/v1/clients/{slug}",
    "/api/v1/clients/{slug}/timeline",
    "/api/v1/clients/{slug}/card",
    "/api/v1/clients/{slug}/touches",
    "/api/v1/clients/{slug}/commitments",
    "/api/v1/identities",
    "/api/v1/unmatched",
    "/api/v1/runs",
    "/api/v1/runs/{run_id}",
    "/api/v1/ingest/{connector}",
}


def test_the_openapi_document_is_valid_and_complete(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    document = response.json
    validate(document)
    missing = EXPECTED_PATHS - set(document["paths"])
    assert not missing, sorted(document["paths"])


def test_the_explorer_is_served(client):
    page = client.get("/api/docs")
    assert page.status_code == 200
    assert "swagger-ui" in page.get_data(as_text=True)
