"""Briefings for many clients at once: a ZIP of PDFs, one combined PDF, a directory of files.

**Which clients.** Active clients picked by tier, group and account manager,
read as the client directory reads them (crm.clients.directory): several
tiers are alternatives; a group is its id or "kind:name" (the name in any
case); an account manager matches ignoring case; filters given together must
all match. A selection names at least one of them: a batch of every client is
asked for by ticking every tier, never by forgetting to choose.

**One client's failure stays its own.** Each briefing is built (and rendered)
on its own; one that raises is reported with its slug and error and the
batch goes on. A database error leaves the transaction unusable, so it is
rolled back before the next client (a batch only reads).

**The combined PDF** is made briefing by briefing on disk and joined
(reports.briefing.combined), so its memory does not grow with the batch.
"""

import logging
import shlex
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import BinaryIO

from flask import current_app
from sqlalchemy import exists, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, selectinload

from crm.clients.filters import BadGroupSelector, parse_group_selector
from crm.clients.lifespan import BeforeClient
from crm.clients.managers import managed_by_name
from crm.models import Client, Group, client_groups
from crm.vocabulary import TIERS
from reports.briefing import build_briefing
from reports.briefing.model import Briefing
from reports.briefing.render import briefing_pdf, pdf_filename

logger = logging.getLogger(__name__)

# How many briefings one download makes while its request waits. A briefing's
# PDF takes 0.5-2.5 s on a busy 2-core server, and the server gives a request
# 60 s (TOUCHLINE_WEB_TIMEOUT): 20 fit with room to spare. 100 did not (issue
# 19); bigger batches are background jobs, which have no limit.
DEFAULT_BATCH_MAX = 20
# In a ZIP, next to the PDFs, when some briefings could not be made.
FAILURES_FILE = "FAILED.txt"


class BadSelection(ValueError):
    """A filter that cannot select clients; `field` names it (tier, group, account_manager)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Selection:
    tiers: tuple[str, ...] = ()
    group: str | None = None  # a group id or "kind:name"
    account_manager: str | None = None

    @classmethod
    def parse(
        cls,
        tiers: Iterable[str] = (),
        group: str | None = None,
        account_manager: str | None = None,
    ) -> "Selection":
        """A selection from what a person typed; BadSelection naming the filter."""
        chosen = []
        for tier in tiers:
            name = (tier or "").strip().lower()
            if not name:
                continue
            if name not in TIERS:
                raise BadSelection("tier", f"unknown tier {tier!r}: choose from {', '.join(TIERS)}")
            if name not in chosen:
                chosen.append(name)
        group = (group or "").strip() or None
        if group:
            try:
                parse_group_selector(group)
            except BadGroupSelector as error:
                raise BadSelection("group", f"group {error}") from None
        manager = (account_manager or "").strip() or None
        return cls(tuple(chosen), group, manager)

    @property
    def is_empty(self) -> bool:
        return not (self.tiers or self.group or self.account_manager)

    def cli_options(self) -> str:
        """The same selection as `flask briefing` options."""
        options = [f"--tier {tier}" for tier in self.tiers]
        if self.group:
            options.append(f"--group {shlex.quote(self.group)}")
        if self.account_manager:
            options.append(f"--manager {shlex.quote(self.account_manager)}")
        return " ".join(options)


@dataclass
class Batch:
    """The clients a selection picked, with what to call them."""

    selection: Selection
    clients: list[Client]
    group: Group | None

    @property
    def title(self) -> str:
        """ "Key and problem clients in industry Healthcare managed by Ana Lima"."""
        tiers = self.selection.tiers
        if tiers:
            named = tiers[0] if len(tiers) == 1 else f"{', '.join(tiers[:-1])} and {tiers[-1]}"
            words = [f"{named.capitalize()} clients"]
        else:
            words = ["Clients"]
        if self.group is not None:
            words.append(f"in {self.group.kind} {self.group.name}")
        if self.selection.account_manager:
            words.append(f"managed by {self.selection.account_manager}")
        return " ".join(words)

    @property
    def label(self) -> str:
        """The selection in a file name: "key-problem-industry-healthcare"."""
        words = list(self.selection.tiers)
        if self.group is not None:
            words += [self.group.kind, self.group.name]
        if self.selection.account_manager:
            words.append(self.selection.account_manager)
        return _file_word(" ".join(words)) or "clients"


def find_clients(session: Session, selection: Selection) -> Batch:
    """The active clients `selection` picks, A-Z; BadSelection for a group that does not exist."""
    if selection.is_empty:
        raise BadSelection("tier", "Pick a tier, a group or an account manager.")
    conditions = [Client.status == "active"]
    if selection.tiers:
        conditions.append(Client.tier.in_(selection.tiers))
    if selection.account_manager:
        conditions.append(managed_by_name(selection.account_manager))
    group = None
    if selection.group:
        group = _group(session, selection.group)
        conditions.append(
            exists().where(
                client_groups.c.client_id == Client.id, client_groups.c.group_id == group.id
            )
        )
    clients = session.scalars(
        select(Client)
        .where(*conditions)
        .options(selectinload(Client.groups))
        .order_by(func.lower(Client.name), Client.id)
    ).all()
    return Batch(selection, list(clients), group)


def _group(session: Session, text: str) -> Group:
    selector = parse_group_selector(text)
    if isinstance(selector, int):
        group = session.get(Group, selector)
    else:
        kind, name = selector
        group = session.scalars(
            select(Group)
            .where(Group.kind == kind, func.lower(Group.name) == name.lower())
            .order_by(Group.id)
            .limit(1)
        ).first()
    if group is None:
        raise BadSelection("group", f"there is no group {text!r}")
    return group


# --- making the briefings -------------------------------------------------------------


@dataclass
class Outcome:
    """One client's part of a batch: its briefing (and PDF), or why there is none."""

    slug: str
    name: str
    briefing: Briefing | None = None
    pdf: bytes | None = None
    error: str | None = None

    @property
    def file_name(self) -> str | None:
        return pdf_filename(self.briefing) if self.briefing else None


def make_briefings(
    session: Session,
    clients: Iterable[Client],
    meeting_date: date | None = None,
    *,
    now: datetime | None = None,
    pdf: bool = False,
    link_base: str | None = None,
) -> Iterator[Outcome]:
    """Each client's briefing (and its PDF when `pdf`), in turn, as they are made.

    A generator, so a caller can show progress and write each PDF before the
    next is made. All share one `now`, so the batch reads as of one moment.
    """
    for client in clients:
        slug, name = client.slug, client.name
        try:
            briefing = build_briefing(session, client, meeting_date, now)
            document = briefing_pdf(briefing, link_base=link_base) if pdf else None
        except BeforeClient as refused:  # not a failure: the client came later
            yield Outcome(slug, name, error=str(refused))
            continue
        except Exception as error:  # one client's failure must not lose the batch
            if isinstance(error, SQLAlchemyError):
                session.rollback()
            logger.exception("The briefing for %s failed", slug)
            yield Outcome(slug, name, error=f"{type(error).__name__}: {error}")
            continue
        yield Outcome(slug, name, briefing=briefing, pdf=document)


def failures_text(failed: list[Outcome]) -> str:
    lines = [f"{outcome.slug}: {outcome.error}" for outcome in failed]
    return "These briefings could not be made:\n" + "\n".join(lines) + "\n"


def write_zip(outcomes: Iterable[Outcome], target: BinaryIO) -> list[Outcome]:
    """Each outcome's PDF into a ZIP written to `target`, plus FAILURES_FILE
    when some failed; the outcomes, their PDFs dropped once written."""
    done: list[Outcome] = []
    # PDFs compress their own streams: deflating them again gains little.
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as archive:
        for outcome in outcomes:
            if outcome.pdf is not None:
                archive.writestr(outcome.file_name, outcome.pdf)
                outcome.pdf = None
            done.append(outcome)
        failed = [outcome for outcome in done if outcome.error]
        if failed:
            archive.writestr(FAILURES_FILE, failures_text(failed))
    return done


def batch_max() -> int:
    """How many briefings one request may make (TOUCHLINE_BRIEFING_BATCH_MAX)."""
    return int(current_app.config.get("BRIEFING_BATCH_MAX", DEFAULT_BATCH_MAX))


def _file_word(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return "-".join("".join(c if c.isalnum() else " " for c in folded).split())
