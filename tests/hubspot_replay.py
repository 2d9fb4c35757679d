"""HubSpot's API replayed by a local HTTP server (pytest-httpserver): the
source calls through HubSpot's SDK, whose urllib3 `responses` cannot
intercept. The answers are the objects of
tests/fixtures/vendors/hubspot_crm_v3_DOCUMENTED_SHAPE.json (provenance in
tests/fixtures/vendors/SOURCES.md: BUILT to the documented shapes of HubSpot's
OpenAPI specifications, HubSpot/HubSpot-public-api-spec-collection; no
recorded HubSpot answer was found in HubSpot/hubspot-api-python's tests or
elsewhere), in the envelopes developers.hubspot.com documents: list pages
`{"results", "paging": {"next": {"after", "link"}}}`, search pages with
`total`, the v4 association batch `{"status", "results": [{"from", "to"}]}`,
the Email Events page `{"events", "hasMore", "offset"}`."""

import copy
import json
from pathlib import Path

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

FIXTURE = Path(__file__).parent / "fixtures" / "vendors" / "hubspot_crm_v3_DOCUMENTED_SHAPE.json"
TYPES = ("companies", "deals", "emails", "calls", "meetings", "notes")
EVENTS = "/email/public/v1/events"


def objects(name: str) -> list[dict]:
    return copy.deepcopy(json.loads(FIXTURE.read_text())[name])


def base(server: HTTPServer) -> str:
    """The connection's base URL: the server's root."""
    return server.url_for("/").rstrip("/")


def answer(body: dict, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(body), status, headers, content_type="application/json")


def listed(server: HTTPServer, name: str, pages: list[list[dict]]) -> None:
    """`GET /crm/v3/objects/{name}` in these pages: the first without
    `after`, each next one at the `after` the page before gave (100, 200...),
    100 asked a page."""

    def page(request: Request) -> Response:
        after = request.args.get("after")
        number = int(after) // 100 if after else 0
        if request.args.get("limit") not in ("100", "1") or number >= len(pages):
            return answer({"status": "error", "message": f"unexpected {request.full_path}"}, 400)
        body: dict = {"results": pages[number]}
        if number < len(pages) - 1:
            following = str(100 * (number + 1))
            link = f"{base(server)}/crm/v3/objects/{name}?after={following}"
            body["paging"] = {"next": {"after": following, "link": link}}
        return answer(body)

    server.expect_request(f"/crm/v3/objects/{name}", method="GET").respond_with_handler(page)


def backfill(server: HTTPServer) -> None:
    """A first sync's answers: the companies in two pages, each other type
    in one, and a page of marketing email events."""
    acme, globex = objects("companies")
    listed(server, "companies", [[acme], [globex]])
    for name in TYPES[1:]:
        listed(server, name, [objects(name)])
    server.expect_request(EVENTS, method="GET").respond_with_json(objects("email_events"))


def nothing_anywhere(server: HTTPServer) -> None:
    """An account with nothing in it: every list and the events empty."""
    for name in TYPES:
        listed(server, name, [[]])
    server.expect_request(EVENTS, method="GET").respond_with_json({"events": [], "hasMore": False})


def missing_scopes(scope: str) -> dict:
    """The fixture's documented-shape 403 MISSING_SCOPES body, for `scope`."""
    body = json.loads(FIXTURE.read_text())["missing_scopes"]
    body["errors"][0]["context"]["requiredGranularScopes"] = [scope]
    return body


def asked(server: HTTPServer, path: str) -> list[Request]:
    """The requests the server was sent at `path`, in order."""
    return [request for request, _ in server.log if request.path == path]
