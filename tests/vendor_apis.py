"""Vendors' APIs replayed with `responses` (no network): pages made of the
vendors' own recorded objects, in the envelopes their APIs document.

Zendesk: the 100 tickets of a recorded `GET /api/v2/tickets` (zendesk/
zendesk_api_client_rb @ 520d2686, tests/fixtures/vendors/SOURCES.md), the
organization and user it recorded, verbatim, laid in pages BUILT to the
documented shape of the incremental exports (developer.zendesk.com, "Incremental
Exports": `after_cursor`/`end_of_stream` for tickets and users, `end_time` for
organizations). Stripe: stripe/openapi fixtures3.json objects (@ f6c2a48f) in
list envelopes BUILT to Stripe's documented shape (`object: list`, `data`,
`has_more`, `url`); where a page needs several objects of one kind, the
fixture is copied with only its `id` changed (DERIVED).
"""

import json
import re

import responses
from responses import matchers

from tests.stripe_data import CUSTOMER, event, obj, vendor

ZENDESK = "https://acme.zendesk.test"
STRIPE = "https://stripe.test"
ORGANIZATION = 20012227


def zendesk_tickets() -> list[dict]:
    return vendor("zendesk_ticket_list_api_response.json")["tickets"]


def zendesk_me(role: str = "admin") -> dict:
    """The recorded user, as `users/me` answers for the token's owner."""
    user = vendor("zendesk_user_show_api_response.json")
    user["user"]["role"] = role
    return user


def cursor_pages(items: list[dict], key: str, sizes: list[int], prefix: str) -> list[dict]:
    """Items laid in cursor-export pages of these sizes; the cursors are
    `<prefix>1`, `<prefix>2`, ... (the cursor after each page)."""
    pages, start = [], 0
    for number, size in enumerate(sizes, 1):
        last = number == len(sizes)
        pages.append(
            {
                key: items[start : start + size],
                "after_cursor": f"{prefix}{number}",
                "after_url": f"{ZENDESK}/api/v2/incremental/{key}/cursor.json"
                f"?cursor={prefix}{number}",
                "before_cursor": None,
                "before_url": None,
                "end_of_stream": last,
            }
        )
        start += size
    return pages


def add_zendesk(
    mock: responses.RequestsMock,
    ticket_pages: list[dict],
    *,
    ticket_cursor_start: str | None = None,
    ticket_events: dict | None = None,
) -> None:
    """Organizations and users (one page each), then the ticket pages, each
    answered to the cursor the page before gave, then one page of ticket
    events (`ticket_events`: a whole export page; none by default)."""
    mock.get(
        f"{ZENDESK}/api/v2/incremental/ticket_events.json",
        json=ticket_events or {"ticket_events": [], "end_time": 0, "end_of_stream": True},
    )
    organization = vendor("zendesk_organization_create_api_response.json")["organization"]
    organization["id"] = ORGANIZATION  # the tickets' organization (DERIVED)
    mock.get(
        f"{ZENDESK}/api/v2/incremental/organizations.json",
        json={
            "organizations": [organization],
            "count": 1,
            "end_time": 1451439486,
            "end_of_stream": True,
            "next_page": None,
        },
    )
    user = vendor("zendesk_user_show_api_response.json")["user"]
    api_users = cursor_pages([user], "users", [1], "u")[0]
    mock.get(
        f"{ZENDESK}/api/v2/incremental/users/cursor.json",
        json=api_users,
        match=[matchers.query_param_matcher({"start_time": "0"}, strict_match=False)],
    )
    # Asked again from its cursor: nothing new.
    mock.get(
        f"{ZENDESK}/api/v2/incremental/users/cursor.json",
        json=api_users | {"users": [], "after_cursor": "u1"},
        match=[matchers.query_param_matcher({"cursor": "u1"}, strict_match=False)],
    )
    previous = ticket_cursor_start
    for page in ticket_pages:
        query = {"cursor": previous} if previous else {"start_time": "0"}
        mock.get(
            f"{ZENDESK}/api/v2/incremental/tickets/cursor.json",
            json=page,
            match=[matchers.query_param_matcher(query, strict_match=False)],
        )
        previous = page["after_cursor"]


# --- Stripe -----------------------------------------------------------------------------


def stripe_list(path: str, data: list[dict], has_more: bool) -> dict:
    return {"object": "list", "data": data, "has_more": has_more, "url": path}


def customers(count: int) -> list[dict]:
    """The fixture customer, `count` times with ids of their own (DERIVED)."""
    return [obj("customer", id=f"cus_{n:04d}TEST") for n in range(count)]


def stripe_events(count: int) -> list[dict]:
    """Newest first, as Stripe lists them: invoices of the fixture customer
    finalized, one event each (ids DERIVED)."""
    found = []
    for n in range(count):
        invoice = obj("invoice", id=f"in_{n:04d}TEST", customer=CUSTOMER, status="open")
        found.append(event(f"evt_{n:04d}TEST", "invoice.finalized", invoice, 1_790_000_000 + n))
    return list(reversed(found))


def add_stripe_list(mock, name: str, items: list[dict], page_size: int) -> None:
    """A backfill list answered page by page to `starting_after`."""
    path = f"/v1/{name}"
    pages = [items[i : i + page_size] for i in range(0, len(items), page_size)] or [[]]
    after = None
    for number, page in enumerate(pages):
        query = {"starting_after": after} if after else {}
        mock.get(
            f"{STRIPE}{path}",
            json=stripe_list(path, page, number < len(pages) - 1),
            match=[_query(query, absent=() if after else ("starting_after", "ending_before"))],
        )
        after = page[-1]["id"] if page else after


def _query(expected: dict, absent=()):
    """Matches a request whose query holds `expected` and none of `absent`."""

    def match(request):
        query = dict(re.findall(r"[?&]([^=&]+)=([^&]*)", request.url))
        if any(name in query for name in absent):
            return False, f"{absent} in {query}"
        ok = all(query.get(k) == v for k, v in expected.items())
        return ok, "" if ok else f"{expected} not in {query}"

    return match


def body(call) -> dict:
    return json.loads(call.response.content)


def replayed() -> responses.RequestsMock:
    """A mock of the vendors' APIs; an answer a sync does not ask for (a
    cursor it never reaches) is no failure. A request it has no answer for is."""
    return responses.RequestsMock(assert_all_requests_are_fired=False)
