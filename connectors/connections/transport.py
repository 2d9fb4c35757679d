"""HTTP to the vendors, within their limits: one shared way to retry.

- 429: wait as long as the vendor's `Retry-After` says (seconds or an HTTP
  date), then try again; a wait longer than MAX_WAIT ends the sync instead
  (the next scheduled run goes on from the saved cursors).
- 5xx, timeouts, dropped connections: exponential backoff with jitter
  (BASE_DELAY * 2^attempt, each wait a random part of that, at most MAX_DELAY),
  so many connections failing together do not retry in step.
- anything else is the caller's to read (401, 403, 404 name what is wrong).

`retrying` is that rule for any client: the Transport's requests session,
and the HubSpot SDK's urllib3 calls (sources/hubspot_api.py), which read
their status and headers from the SDK's ApiException.

`sleep` is looked up at call time so that a test can record the waits
instead of spending them.
"""

import email.utils
import random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TypeVar

import requests

ATTEMPTS = 5
BASE_DELAY = 1.0
MAX_DELAY = 60.0
MAX_WAIT = 300.0
TIMEOUT = (10, 60)  # connect, read (seconds)
USER_AGENT = "Touchline-sync/1"

sleep = time.sleep
Answer = TypeVar("Answer")


class SourceError(RuntimeError):
    """What went wrong talking to a vendor, said so an admin can act on it.

    `kind`: "credentials" (the key is wrong or revoked), "permission" (the
    key lacks a scope), "unreachable" (DNS, TLS, refused, timeouts), "limit"
    (rate limited for too long), "vendor" (the vendor answered an error).
    A credentials or permission error pauses the connection at once: it
    will not mend itself."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind

    @property
    def lasting(self) -> bool:
        return self.kind in ("credentials", "permission")


def retry_after(headers: Mapping[str, str]) -> float | None:
    """The seconds a 429's `Retry-After` header asks for, if it says."""
    value = (headers.get("Retry-After") or "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def backoff(attempt: int) -> float:
    """The wait before retry number `attempt` (1, 2, ...): full jitter."""
    ceiling = min(MAX_DELAY, BASE_DELAY * 2 ** (attempt - 1))
    return random.uniform(ceiling / 2, ceiling)


def retrying(
    send: Callable[[], Answer],
    status: Callable[[Answer], tuple[int, Mapping[str, str]]],
    host: str,
    attempts: int = ATTEMPTS,
    unreachable: tuple[type[Exception], ...] = (requests.ConnectionError, requests.Timeout),
) -> Answer:
    """The one rule for waiting, whatever the client: `send()` tries once
    and `status(answer)` reads its status and headers (a requests response
    here; an SDK's exception elsewhere, see sources/hubspot_api.py). The
    answer, once it is neither a 429 nor a 5xx, or the last one when the
    attempts run out; SourceError when no answer came (`unreachable`)."""
    for attempt in range(1, attempts + 1):
        last = attempt == attempts
        try:
            answer = send()
        except unreachable as error:
            if last:
                raise SourceError(
                    "unreachable", f"{host} did not answer: {reason(error)}"
                ) from None
            sleep(backoff(attempt))
            continue
        code, headers = status(answer)
        if code == 429:
            wait = retry_after(headers)
            wait = backoff(attempt) if wait is None else wait
            if wait > MAX_WAIT or last:
                raise SourceError("limit", f"{host} is rate limiting (asked to wait {wait:.0f} s)")
            sleep(wait)
            continue
        if code >= 500 and not last:
            sleep(backoff(attempt))
            continue
        return answer
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


class Transport:
    """A requests session that retries as the module says."""

    def __init__(self, session: requests.Session | None = None, attempts: int = ATTEMPTS):
        self.session = session or requests.Session()
        self.session.headers.setdefault("User-Agent", USER_AGENT)
        self.attempts = attempts

    def request(self, method: str, url: str, **kwargs) -> requests.Response:
        """The vendor's answer, retried as `retrying` says."""
        kwargs.setdefault("timeout", TIMEOUT)
        return retrying(
            lambda: self.session.request(method, url, **kwargs),
            lambda response: (response.status_code, response.headers),
            host(url),
            self.attempts,
        )

    def close(self) -> None:
        self.session.close()


def host(url: str) -> str:
    return requests.utils.urlparse(url).netloc or url


def reason(error: Exception) -> str:
    """A short cause: requests' and urllib3's messages nest the whole chain."""
    text = str(error)
    for marker in ("Name or service not known", "Connection refused", "timed out", "SSL"):
        if marker in text:
            return marker.lower()
    return type(error).__name__
