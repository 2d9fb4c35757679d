"""`/unsubscribe/<token>`: stopping one kind of e-mail from the e-mail itself,
without signing in (the token is signed: crm.accounts.mail).

GET shows what the link stops and a button; only POST changes anything, so
a mail scanner that follows links stops nothing. POST is also RFC 8058's
one-click unsubscribe, which mail programs send with the body
`List-Unsubscribe=One-Click` and no cookie or CSRF token: the signature is
what authorises it.
"""

from flask import Blueprint, abort, current_app, make_response, render_template

from crm.accounts.mail import KIND_LABELS, read_unsubscribe_token, receives, set_receives
from crm.extensions import db

bp = Blueprint("unsubscribe", __name__)


def _read(token: str) -> tuple[str, str]:
    """(email, kind) from the link; a link we did not sign ends the request (404)."""
    found = read_unsubscribe_token(current_app.config["SECRET_KEY"], token)
    if found is None:
        page = render_template("accounts/unsubscribe.html", invalid=True)
        abort(make_response(page, 404))
    return found


@bp.get("/unsubscribe/<token>")
def confirm(token: str):
    email, kind = _read(token)
    return render_template(
        "accounts/unsubscribe.html",
        email=email,
        kind=KIND_LABELS[kind],
        done=not receives(db.session, email, kind),
        token=token,
    )


@bp.post("/unsubscribe/<token>")
def unsubscribe(token: str):
    email, kind = _read(token)
    set_receives(db.session, email, {kind: False}, via="link")
    db.session.commit()
    return render_template(
        "accounts/unsubscribe.html", email=email, kind=KIND_LABELS[kind], done=True
    )
