"""Which e-mail each person receives, and the signed links that stop it.

Every e-mail Touchline sends (reports.delivery) carries a link made by
`unsubscribe_token`: signed with the app's secret key (itsdangerous), for
one address and one kind of e-mail, so it works without signing in and
cannot be altered to stop someone else's mail or another kind. It does not
expire: an old e-mail's link must still work. Both doors (the form at
/account and the link) change preferences through `set_receives`, which
writes the audit log.
"""

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.accounts.models import MAIL_KINDS, MailOptOut
from crm.accounts.operations import audit

SALT = "touchline.unsubscribe"
KIND_LABELS = {
    "briefing": "the briefing before each meeting",
    "digest": "the weekly executive digest",
}


def receives(session: Session, email: str, kind: str) -> bool:
    """Whether `email` still receives `kind` (everyone does until they stop it)."""
    return session.get(MailOptOut, (email.strip().lower(), kind)) is None


def preferences(session: Session, email: str) -> dict[str, bool]:
    """{kind: receives} for every kind of e-mail."""
    stopped = set(
        session.scalars(select(MailOptOut.kind).where(MailOptOut.email == email.strip().lower()))
    )
    return {kind: kind not in stopped for kind in MAIL_KINDS}


def set_receives(session: Session, email: str, wanted: dict[str, bool], via: str) -> dict:
    """Record which kinds `email` receives (kinds not named keep their
    setting); audited with what changed. The changes, {kind: receives}."""
    email = email.strip().lower()
    unknown = set(wanted) - set(MAIL_KINDS)
    if unknown:
        raise ValueError(f"no such kind of e-mail: {', '.join(sorted(unknown))}")
    changed = {}
    for kind, receive in wanted.items():
        row = session.get(MailOptOut, (email, kind))
        if receive and row is not None:
            session.delete(row)
            changed[kind] = True
        elif not receive and row is None:
            session.add(MailOptOut(email=email, kind=kind, via=via))
            changed[kind] = False
    session.flush()
    if changed:
        audit(session, "user.mail", "user", email, {"receives": changed, "via": via})
    return changed


def unsubscribe_token(secret_key: str, email: str, kind: str) -> str:
    if kind not in MAIL_KINDS:
        raise ValueError(f"no such kind of e-mail: {kind}")
    return URLSafeSerializer(secret_key, salt=SALT).dumps([email.strip().lower(), kind])


def read_unsubscribe_token(secret_key: str, token: str) -> tuple[str, str] | None:
    """(email, kind) from a link, or None when it is not one we signed."""
    try:
        email, kind = URLSafeSerializer(secret_key, salt=SALT).loads(token)
    except (BadSignature, ValueError, TypeError):
        return None
    if not isinstance(email, str) or kind not in MAIL_KINDS:
        return None
    return email, kind
