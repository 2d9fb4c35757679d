"""Reading a vendor's answer, one rule for the sources that call a JSON API
through the transport (ConnectWise, Freshdesk, NinjaOne, QuickBooks, Xero,
Zendesk): an error status named as the admin can act on, else the JSON."""

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
