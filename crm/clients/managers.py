"""Account managers: each client's is a user account (crm.models.Client.manager).

A manager named as text (before managers were accounts, or by an import)
becomes the one active account of that e-mail address or display name
(crm.models.clients.match_account); a name that matches none waits in
`Client.unmatched_manager`, and `needing_manager` lists those clients (and
the clients whose manager's account was deactivated) for an admin to assign.
Every change of a client's manager, from any door, goes through
`assign_manager`, which writes the audit log.
"""

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from crm.accounts.models import User
from crm.accounts.operations import audit
from crm.clients.errors import ClientInputError
from crm.models import Client
from crm.models.clients import match_account


def active_accounts(session: Session) -> list[User]:
    """The accounts a client's manager may be chosen from, by name."""
    return list(
        session.scalars(select(User).where(User.active.is_(True)).order_by(User.name, User.email))
    )


def chosen_manager(session: Session, field: str, user_id: int | None = None, text=None):
    """The active account named by `user_id`, else by `text` (an address or
    display name), or None when neither is given; ClientInputError when the
    one given names no active account."""
    if user_id is not None:
        user = session.get(User, user_id)
        if user is None or not user.active:
            raise ClientInputError(field, f"there is no active account {user_id}")
        return user
    if text is None or not str(text).strip():
        return None
    user = match_account(session, str(text))
    if user is None:
        raise ClientInputError(field, f"{text!r} is not the address or name of one active account")
    return user


def assign_manager(session: Session, client: Client, user: User | None, *, via: str) -> bool:
    """Make `user` (an active account, or None: nobody) the client's account
    manager, audited with the manager before and after. Whether it changed.
    A name that matched no account is kept until an account is assigned, so
    "nobody" on a client without an account never erases it."""
    if user is not None and not user.active:
        raise ClientInputError("account_manager_id", f"{user.email} is deactivated")
    before = client.manager
    unmatched = client.unmatched_manager
    if before is user:
        return False
    client.manager = user
    client.unmatched_manager = None
    session.flush()
    detail = {
        "from": before.email if before is not None else None,
        "to": user.email if user is not None else None,
        "via": via,
    }
    if unmatched is not None:
        detail["unmatched"] = unmatched
    audit(session, "client.manager", "client", client.slug, detail)
    return True


def needing_manager(session: Session) -> list[Client]:
    """The clients an admin should give a manager: those whose manager's
    name matched no account, and those whose manager's account is
    deactivated; by the name they were given, then client name."""
    inactive = select(User.id).where(User.active.is_(False))
    return list(
        session.scalars(
            select(Client)
            .where(
                or_(
                    Client.unmatched_manager.is_not(None),
                    Client.manager_id.in_(inactive),
                )
            )
            .order_by(Client.unmatched_manager, Client.name, Client.id)
        ).unique()
    )


def managed_by(user_id: int):
    """The condition "managed by this account", for "my clients"."""
    return Client.manager_id == user_id


def managed_by_name(name: str):
    """The condition "managed by the manager of this name", case aside: the
    account's name, or the name that matched no account yet. The directory's
    filter and a batch of briefings select with it."""
    return func.lower(Client.account_manager) == name.strip().lower()
