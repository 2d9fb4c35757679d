"""What the client's pages share (timeline, meetings): the client a URL names,
else the not-found page, and a change from a posted form committed, or its
error kept for the field it names."""

from collections.abc import Callable
from typing import TypeVar

from flask import abort, make_response, render_template
from sqlalchemy import select

from crm.extensions import db
from crm.models import Client

T = TypeVar("T")


def not_found(message: str) -> tuple[str, int]:
    """The page that says what is missing (404)."""
    return render_template("timeline/not_found.html", message=message), 404


def client_or_404(slug: str) -> Client:
    """The client the URL names; else the not-found page answers (404)."""
    client = db.session.scalar(select(Client).where(Client.slug == slug))
    if client is None:
        abort(make_response(not_found(f"There is no client “{slug}”.")))
    return client


def committed(change: Callable[[], T], refused: type[Exception]) -> tuple[T | None, dict]:
    """(what `change()` made, {}) once committed; or, when it raises `refused`
    (an error with the `field` at fault and its `message`), (None, its error
    by field) with everything it did rolled back."""
    try:
        made = change()
    except refused as error:
        db.session.rollback()
        return None, {error.field or "_schema": [error.message]}
    db.session.commit()
    return made, {}
