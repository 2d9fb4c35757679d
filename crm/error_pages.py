"""What a person sees when a page cannot be shown: the site's layout, with
its menu, what went wrong in words, and what to do next.

The API answers its errors as JSON (crm.api); a webhook's sender reads its
own JSON answers (connectors.webhooks). Every other address, including one
that names nothing, gets one of these pages, never the server's bare text.
"""

from flask import render_template, request
from werkzeug.exceptions import HTTPException

from crm.logs import request_id

# status -> (title, what to do next)
ADVICE = {
    400: ("That request could not be read", "Go back and try again."),
    404: (
        "Nothing here",
        "The address may be mistyped, or what it named was removed. Start again from the "
        "first page, or find the client in the directory.",
    ),
    405: ("Not done that way", "Use the page's own buttons and forms instead."),
    413: ("Too big", "Send a smaller file, or import it with the command line."),
    429: ("Too many attempts", "Wait a little, then try again."),
    500: (
        "Something went wrong on our side",
        "It has been logged. Try again; if it keeps happening, tell your admin and give "
        "them the reference below.",
    ),
}
DEFAULT = ("That did not work", "Go back and try again.")


def error_page(error: HTTPException):
    """The page for an HTTP error of a page request; JSON under /webhooks/."""
    code = error.code or 500
    if request.path.startswith("/webhooks/"):
        return {"error": error.description or error.name}, code, _own_headers(error)
    title, advice = ADVICE.get(code, DEFAULT)
    # The server's own wording ("The requested URL was not found on the
    # server...") says less than the advice; a view's abort message says more.
    detail = None if error.description == type(error).description else error.description
    page = render_template(
        "errors/error.html",
        code=code,
        title=title,
        detail=detail,
        advice=advice,
        reference=request_id() if code >= 500 else None,
    )
    return page, code, _own_headers(error)


def _own_headers(error: HTTPException) -> dict:
    """What the error itself says in headers (a 405's `Allow`, a 429's `Retry-After`)."""
    return {name: value for name, value in error.get_headers() if name != "Content-Type"}
