"""Reading a vendor's answer, one rule for the sources that call a JSON API
through the transport (ConnectWise, Freshdesk, NinjaOne, QuickBooks, Xero,
Zendesk): an error status named as the admin can act on, else the JSON."""

from collections.abc import Callable, Iterable

from connectors.connections.oauth import REAUTHORIZE
from connectors.connections.transport import SourceError


def read(response, vendor: str, path: str, problems: dict[int, tuple[str, str]], said=""):
    """The answer's JSON; SourceError of `problems[status]` (kind, message),
    or naming the status (and what the vendor `said`), or saying the answer
    is not JSON."""
    status = response.status_code
    if status in problems:
        raise SourceError(*problems[status])
    if status >= 400:
        raise SourceError("vendor", f"{vendor} answered {status} for {path}{said}")
    try:
        return response.json()
    except ValueError:
        raise SourceError("vendor", f"{vendor} answered {path} with something not JSON") from None


def said(response, texts: Callable[[dict], Iterable]) -> str:
    """What an error answer's body says (`texts` picks its messages from the
    JSON object), as `: text` to end a message with, or "" where it says
    nothing (or the answer is no error)."""
    if response.status_code < 400:
        return ""
    try:
        body = response.json()
    except ValueError:
        return ""
    found = [str(text) for text in texts(body) if text] if isinstance(body, dict) else []
    text = "; ".join(found)
    return f": {text[:300]}" if text else ""


def token_refused(vendor: str, said: str = "") -> tuple[str, str]:
    """The problem of a 401 to an OAuth source: only a new authorization helps."""
    return "credentials", f"{vendor} refused the access token (401{said}): {REAUTHORIZE}"
