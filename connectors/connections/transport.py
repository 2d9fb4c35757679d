"""HTTP to the vendors, within their limits: one shared way to retry.

- 429: wait as long as the vendor's `Retry-After` says (seconds or an HTTP
  date), then try again; a wait longer than MAX_WAIT ends the sync instead
  (the next scheduled run goes on from the saved cursors).
- 5xx, timeouts, dropped connections: exponential backoff with jitter
  (BASE_DELAY * 2^attempt, each wait a random part of that, at most MAX_DELAY),
  so many connections failing together do not retry in step.
- anything else is the caller's to read (401, 403, 404 name what is wrong).

`sleep` is looked up at call time so that a test can record the waits
instead of spending them.
"""

import email.utils
import random
import time
from datetime import UTC, datetime

import requests

ATTEMPTS = 5
BASE_DELAY = 1.0
MAX_DELAY = 60.0
MAX_WAIT = 300.0
TIMEOUT = (10, 60)  # connect, read (seconds)
USER_AGENT = "Touchline-sync/1"

sleep = time.sleep


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


def retry_after(response: requests.Response) -> float | None:
    """The seconds a 429's `Retry-After` asks for, if it says."""
    value = response.headers.get("Retry-After", "").strip()
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


class Transport:
    """A requests session that retries as the module says."""

    def __init__(self, session: requests.Session | None = None, attempts: int = ATTEMPTS):
        self.session = session or requests.Session()
        self.session.headers.setdefault("User-Agent", USER_AGENT)
        self.attempts = attempts

    def request(self, method: str, url: str, **kwargs) -> requests.Response:
        """The vendor's answer, once it is neither a 429 nor a 5xx, or the
        last one when the attempts run out; SourceError when no answer came."""
        kwargs.setdefault("timeout", TIMEOUT)
        for attempt in range(1, self.attempts + 1):
            last = attempt == self.attempts
            try:
                response = self.session.request(method, url, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as error:
                if last:
                    raise SourceError(
                        "unreachable", f"{_host(url)} did not answer: {_reason(error)}"
                    ) from None
                sleep(backoff(attempt))
                continue
            if response.status_code == 429:
                wait = retry_after(response)
                wait = backoff(attempt) if wait is None else wait
                if wait > MAX_WAIT or last:
                    raise SourceError(
                        "limit", f"{_host(url)} is rate limiting (asked to wait {wait:.0f} s)"
                    )
                sleep(wait)
                continue
            if response.status_code >= 500 and not last:
                sleep(backoff(attempt))
                continue
            return response
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def close(self) -> None:
        self.session.close()


def _host(url: str) -> str:
    return requests.utils.urlparse(url).netloc or url


def _reason(error: Exception) -> str:
    """A short cause: requests' messages nest the whole urllib3 chain."""
    text = str(error)
    for marker in ("Name or service not known", "Connection refused", "timed out", "SSL"):
        if marker in text:
            return marker.lower()
    return type(error).__name__
