"""Stripe through its maintained client (`stripe`), whose HTTP goes through
our transport (so 429s and 5xx are retried the one way, see transport.py).

Streams, in this order:
- customers, invoices, charges, disputes, refunds, subscriptions: a backfill
  of each list, newest first, `starting_after` the last object stored, 100 an
  page (Stripe's maximum); done once, after which the events carry changes
- events: the first time, every event Stripe keeps (30 days), newest first;
  then only newer ones, `ending_before` the newest stored

Each page is the list response exactly as Stripe sent it, which the Stripe
connector reads (its objects and events, whatever their API version).
"""

import json
from collections.abc import Iterator
from typing import ClassVar

import stripe

from connectors.connections.sources.base import Page, Source, Stream
from connectors.connections.transport import SourceError, Transport

LIMIT = 100
BACKFILL = ("customers", "invoices", "charges", "disputes", "refunds", "subscriptions")


class _Http(stripe.HTTPClient):
    """stripe's HTTP client interface over our transport."""

    name = "touchline"

    def __init__(self, transport: Transport):
        super().__init__()
        self.transport = transport

    def request(self, method, url, headers, post_data=None):
        response = self.transport.request(method, url, headers=headers, data=post_data)
        return response.content, response.status_code, response.headers

    def close(self):
        self.transport.close()


class StripeApi:
    def __init__(self, base_url: str, api_key: str, transport: Transport):
        self.client = stripe.StripeClient(
            api_key,
            base_addresses={"api": base_url},
            http_client=_Http(transport),
            max_network_retries=0,  # ours retries
        )

    def list(self, path: str, params: dict) -> tuple[bytes, dict]:
        """The body of one list page, and what it says."""
        try:
            response = self.client.raw_request("get", path, **params)
        except stripe.AuthenticationError:
            raise SourceError("credentials", "Stripe rejected the API key (401)") from None
        except stripe.PermissionError as error:
            raise SourceError(
                "permission", f"Stripe: the key may not read {path} ({error.user_message})"
            ) from None
        except stripe.StripeError as error:
            raise SourceError(
                "vendor", f"Stripe answered {error.http_status} for {path}: {error.user_message}"
            ) from None
        return response.body.encode(), json.loads(response.body)


class Backfill(Stream):
    """One list, newest first, until Stripe says there is no more."""

    cursor_field = "id"

    def __init__(self, api: StripeApi, name: str):
        super().__init__(api)
        self.name = name
        # Subscriptions with their discounts expanded, whose coupons price
        # them (ids alone leave MRR unpriced: connectors.stripe_recurring).
        self.params = (
            {"status": "all", "expand": ["data.discounts"]} if name == "subscriptions" else {}
        )

    def pages(self, state: dict) -> Iterator[Page]:
        if state.get("done"):
            return
        after = state.get("starting_after")
        while True:
            params = self.params | {"limit": LIMIT} | ({"starting_after": after} if after else {})
            body, listed = self.api.list(f"/v1/{self.name}", params)
            data = listed.get("data") or []
            after = data[-1]["id"] if data else after
            done = not listed.get("has_more") or not data
            yield Page(body, {"starting_after": after, "done": done}, len(data))
            if done:
                return


class Events(Stream):
    """Stripe lists newest first. The first sync goes back from the newest
    event (`starting_after`) to the oldest kept, remembering the newest; later
    syncs ask for what is newer (`ending_before`), a page at a time, each
    page's first event the next cursor."""

    name = "events"
    cursor_field = "id"
    api: StripeApi

    def pages(self, state: dict) -> Iterator[Page]:
        if "ending_before" in state:
            yield from self._newer(state["ending_before"])
            return
        newest, after = state.get("newest"), state.get("starting_after")
        while True:
            params = {"limit": LIMIT} | ({"starting_after": after} if after else {})
            body, listed = self.api.list("/v1/events", params)
            data = listed.get("data") or []
            newest = newest or (data[0]["id"] if data else None)
            after = data[-1]["id"] if data else after
            if listed.get("has_more") and data:
                yield Page(body, {"newest": newest, "starting_after": after}, len(data))
                continue
            yield Page(body, {"ending_before": newest} if newest else {}, len(data))
            return

    def _newer(self, cursor: str) -> Iterator[Page]:
        while True:
            body, listed = self.api.list("/v1/events", {"limit": LIMIT, "ending_before": cursor})
            data = listed.get("data") or []
            cursor = data[0]["id"] if data else cursor
            yield Page(body, {"ending_before": cursor}, len(data))
            if not listed.get("has_more") or not data:
                return


class StripeSource(Source):
    vendor = "stripe"
    default_base_url = "https://api.stripe.com"
    credential_fields: ClassVar[dict[str, str]] = {
        "api_key": "Secret or restricted API key (read access)"
    }

    def connect(self, credentials: dict) -> StripeApi:
        return StripeApi(self.base_url, credentials["api_key"], self.transport)

    def check_connection(self) -> None:
        """One object of each list the sync reads: names the first the key
        may not read (a restricted key without that resource's read)."""
        for name in (*BACKFILL, "events"):
            self.api.list(f"/v1/{name}", {"limit": 1})

    def streams(self) -> list[Stream]:
        return [*(Backfill(self.api, name) for name in BACKFILL), Events(self.api)]
