"""The unmatched queue: records that found no client, and mapping them to one.

The queue groups the records that found no client by the identity hints they
carry ("Stripe customer cus_9x"), counted in SQL; only the groups of the page
shown are compared with the clients for suggestions. Mapping a hint to a
client and replaying its records is one operation, `map_and_replay`, used by
the page, the API and `flask identities map`; a mapping made elsewhere (a
client form) arrives through `crm.signals.identities_mapped` and replays the
same way.

Functions here flush; the pipeline they call commits per batch, as it does for
every ingest, so the caller commits whatever is left.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app, has_request_context
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, selectinload

from connectors import tasks
from connectors.pipeline import Pipeline
from connectors.suggestions import FREEMAIL, NAME_SYSTEMS, ClientMatcher, Suggestion
from crm.accounts.operations import audit
from crm.accounts.requester import current_user_or_none
from crm.extensions import db
from crm.identities import map_identity
from crm.jobs.models import Job
from crm.models import Client, Identity, InboxHint, InboxRecord, IngestRun
from crm.paging import Page, page_of

# How people name the systems that name our clients.
SYSTEM_LABELS = {
    "stripe": "Stripe customer",
    "stripe_charge": "Stripe charge",
    "stripe_invoice": "Stripe invoice",
    "stripe_payment_intent": "Stripe payment",
    "zendesk": "Zendesk organization",
    "zendesk-user": "Zendesk user",
    "salesforce": "Salesforce account",
    "alertmanager": "Alertmanager client label",
    "alertmanager-job": "Alertmanager job",
    "alertmanager-cluster": "Alertmanager cluster",
    "host": "device",
    "rmm-client": "RMM site or organization",
    "account": "account",
    "email": "email",
    "domain": "email domain",
    "touchline": "client slug",
    **NAME_SYSTEMS,
}


class UnmappableHint(ValueError):
    """A hint that must not name one client, such as a public mail domain."""


def is_public_domain(system: str, key: str) -> bool:
    return system.strip().lower() == "domain" and key.strip().lower() in FREEMAIL


def describe_hint(system: str, key: str) -> str:
    """("stripe", "cus_9x") -> "Stripe customer cus_9x"."""
    return f"{SYSTEM_LABELS.get(system, system)} {key}"


# --- the unmatched queue -------------------------------------------------------


@dataclass
class HintGroup:
    """The unmatched records that name one identity."""

    system: str
    key: str
    records: int
    first_seen: datetime
    last_seen: datetime
    connectors: list[str] = field(default_factory=list)
    sample: InboxRecord | None = None
    suggestions: list[Suggestion] = field(default_factory=list)

    @property
    def label(self) -> str:
        return describe_hint(self.system, self.key)

    @property
    def public_domain(self) -> bool:
        """gmail.com and the like: mapping it would hand one client everyone's mail."""
        return is_public_domain(self.system, self.key)


def waiting_records(session: Session) -> int:
    """Unmatched records, each counted once however many hints it carries."""
    return session.scalar(
        select(func.count()).select_from(InboxRecord).where(InboxRecord.status == "unmatched")
    )


def unmatched_groups(
    session: Session,
    page: int = 1,
    per_page: int = 25,
    system: str | None = None,
    search: str | None = None,
) -> Page[HintGroup]:
    """Hints of the waiting records, most records first, with suggestions.

    A record that names several identities (an email and its domain) is
    counted under each: mapping any of them replays it.
    """
    conditions = [InboxRecord.status == "unmatched"]
    if system:
        conditions.append(InboxHint.system == system)
    if search:
        conditions.append(
            func.lower(InboxHint.key).contains(search.strip().lower(), autoescape=True)
        )
    grouped = (
        select(
            InboxHint.system,
            InboxHint.key,
            func.count().label("records"),
            func.min(InboxRecord.id).label("first_id"),
            func.max(InboxRecord.id).label("sample_id"),
            func.min(InboxRecord.created_at).label("first_seen"),
            func.max(InboxRecord.created_at).label("last_seen"),
        )
        .join(InboxRecord, InboxRecord.id == InboxHint.record_id)
        .where(*conditions)
        .group_by(InboxHint.system, InboxHint.key)
    )
    # The number of groups comes with the page (a window over the grouped
    # rows), so the grouping runs once; only a page past the end counts apart.
    rows = session.execute(
        grouped.add_columns(func.count().over().label("groups"))
        .order_by(func.count().desc(), InboxHint.system, InboxHint.key)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    if rows:
        total = rows[0].groups
    else:
        total = session.scalar(select(func.count()).select_from(grouped.subquery()))
    groups = [
        HintGroup(row.system, row.key, row.records, row.first_seen, row.last_seen) for row in rows
    ]
    if groups:
        _add_connectors(session, groups)
        ids = {row.first_id for row in rows} | {row.sample_id for row in rows}
        records = {
            record.id: record
            for record in session.scalars(select(InboxRecord).where(InboxRecord.id.in_(ids)))
        }
        matcher = ClientMatcher(session)
        for group, row in zip(groups, rows, strict=True):
            group.sample = records[row.sample_id]
            if not group.public_domain:
                # The first record and the latest: one may name the customer
                # (an invoice) where the other does not (its payment).
                evidence = [records[row.first_id].record, group.sample.record]
                group.suggestions = matcher.suggest(group.system, group.key, evidence)
    return Page(groups, page, per_page, total)


def _add_connectors(session: Session, groups: list[HintGroup]) -> None:
    by_hint = {(group.system, group.key): group for group in groups}
    rows = session.execute(
        select(InboxHint.system, InboxHint.key, InboxRecord.connector)
        .join(InboxRecord, InboxRecord.id == InboxHint.record_id)
        .where(
            InboxRecord.status == "unmatched",
            or_(*(and_(InboxHint.system == s, InboxHint.key == k) for s, k in by_hint)),
        )
        .distinct()
        .order_by(InboxRecord.connector)
    )
    for system, key, connector in rows:
        by_hint[(system, key)].connectors.append(connector)


def unmatched_records(
    session: Session,
    system: str | None = None,
    key: str | None = None,
    connector: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Page[InboxRecord]:
    """Waiting records one by one, oldest first."""
    query = select(InboxRecord).where(InboxRecord.status == "unmatched")
    if connector:
        query = query.where(InboxRecord.connector == connector)
    if system or key:
        hinted = select(InboxHint.record_id)
        if system:
            hinted = hinted.where(InboxHint.system == system)
        if key:
            hinted = hinted.where(InboxHint.key == key)
        query = query.where(InboxRecord.id.in_(hinted))
    return page_of(session, query.order_by(InboxRecord.id), page, per_page)


def waiting_systems(session: Session) -> list[str]:
    """The systems the waiting records name, for the queue's filter."""
    return session.scalars(
        select(InboxHint.system)
        .join(InboxRecord, InboxRecord.id == InboxHint.record_id)
        .where(InboxRecord.status == "unmatched")
        .distinct()
        .order_by(InboxHint.system)
    ).all()


def client_choices(session: Session, limit: int) -> list[tuple[str, str]]:
    """(slug, name) of every client to pick from, or none past `limit` clients."""
    if session.scalar(select(func.count()).select_from(Client)) > limit:
        return []
    return [
        tuple(row)
        for row in session.execute(select(Client.slug, Client.name).order_by(Client.name))
    ]


def find_client(session: Session, text: str) -> Client:
    """A client as a person types it: its slug, its exact name, or the one
    name that contains the text. Raises LookupError saying what to type."""
    text = text.strip()
    lowered = text.lower()
    for exactly in (Client.slug == lowered, func.lower(Client.name) == lowered):
        found = session.scalars(select(Client).where(exactly).limit(2)).all()
        if len(found) == 1:
            return found[0]
    candidates = session.scalars(
        select(Client)
        .where(func.lower(Client.name).contains(lowered, autoescape=True))
        .order_by(Client.name)
        .limit(6)
    ).all()
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise LookupError(f"client: no client is called or has the slug {text!r}")
    slugs = ", ".join(c.slug for c in candidates[:5])
    raise LookupError(f"client: several clients match {text!r} ({slugs}); give the slug")


# --- mapping a hint ------------------------------------------------------------


@dataclass
class MappingResult:
    identity: Identity
    runs: list[IngestRun]
    still_waiting: int
    # The job replaying the records when there were too many for one request.
    job: Job | None = None

    @property
    def replayed(self) -> int:
        """Records that are on the timeline now (or already were)."""
        return sum(run.accepted + run.duplicate for run in self.runs)

    @property
    def rejected(self) -> int:
        return sum(run.rejected for run in self.runs)

    @property
    def skipped(self) -> int:
        return sum(run.skipped for run in self.runs)

    def describe(self) -> str:
        """What a person is told: "12 records replayed onto Acme Dental"."""
        client = self.identity.client.name
        hint = describe_hint(self.identity.system, self.identity.external_key)
        if self.job is not None and not self.job.finished:
            return (
                f"{hint} now belongs to {client}; the {self.job.total} records waiting for it "
                f"are being replayed in the background (job #{self.job.id}, see Jobs)."
            )
        if not self.runs:
            return f"{hint} now belongs to {client}; no records were waiting for it."
        noun = "record" if self.replayed == 1 else "records"
        text = f"{self.replayed} {noun} replayed onto {client}"
        rest = [
            f"{count} {what}"
            for count, what in (
                (self.rejected, "rejected"),
                (self.skipped, "skipped"),
                (self.still_waiting, "still unmatched"),
            )
            if count
        ]
        return text + (f" ({', '.join(rest)})." if rest else ".")


def mapped_identities(
    session: Session,
    system: str | None = None,
    client: Client | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Page[Identity]:
    """Identities already mapped, by system then key."""
    query = select(Identity).options(selectinload(Identity.client))
    if system:
        query = query.where(Identity.system == system.strip().lower())
    if client is not None:
        query = query.where(Identity.client_id == client.id)
    return page_of(session, query.order_by(Identity.system, Identity.external_key), page, per_page)


def map_and_replay(
    session: Session, system: str, key: str, client: Client, started_by: str, *, via: str
) -> MappingResult:
    """Map `system`'s `key` to `client` and replay the records waiting for it,
    with an entry in the audit log saying it came `via` the page, the API or
    the command line: every door changes the mapping here, so none skips it.

    Raises crm.identities.IdentityConflict, before changing anything, when the
    identity already belongs to another client, and UnmappableHint for a
    public mail domain.
    """
    if is_public_domain(system, key):
        raise UnmappableHint(
            f"{key.strip().lower()} is a public mail service: mapping it would give "
            f"{client.name} every address there; map the address itself instead"
        )
    identity = map_identity(session, system, key, client)
    runs, job = replay_or_queue(session, [(identity.system, identity.external_key)], started_by)
    mapping = MappingResult(identity, runs, _still_waiting(session, identity), job)
    detail = {
        "system": identity.system,
        "key": identity.external_key,
        "replayed": mapping.replayed,
        "via": via,
    }
    audit(session, "identity.map", "client", client.slug, detail)
    return mapping


def replay_waiting(
    session: Session, pairs: Iterable[tuple[str, str]], started_by: str
) -> list[IngestRun]:
    """Replay the unmatched records that name any of these identities."""
    return Pipeline(session).replay_matching(pairs, started_by)


def replay_or_queue(
    session: Session, pairs: Iterable[tuple[str, str]], started_by: str
) -> tuple[list[IngestRun], Job | None]:
    """Replay now, or, when more records wait than TOUCHLINE_BACKGROUND_REPLAY_RECORDS,
    in a job sent once the caller commits the mapping: (runs done so far, the job)."""
    pairs = list(pairs)
    waiting = len(tasks.waiting_for(pairs))
    if waiting <= current_app.config["BACKGROUND_REPLAY_RECORDS"]:
        return replay_waiting(session, pairs, started_by), None
    user = current_user_or_none() if has_request_context() else None
    job = tasks.queue_replay(pairs, waiting, user.email if user else started_by, started_by)
    done = (job.result or {}).get("run_ids", []) if job.status == "done" else []
    return [session.get(IngestRun, run_id) for run_id in done], job


def replay_mapped_identities(sender, *, pairs, started_by, **_extra) -> list[IngestRun]:
    """Receiver of crm.signals.identities_mapped: identities mapped anywhere
    (a client form) bring in the records that waited for them."""
    runs, _job = replay_or_queue(db.session, pairs, started_by)
    return runs


def _still_waiting(session: Session, identity: Identity) -> int:
    return session.scalar(
        select(func.count())
        .select_from(InboxHint)
        .join(InboxRecord, InboxRecord.id == InboxHint.record_id)
        .where(
            InboxHint.system == identity.system,
            InboxHint.key == identity.external_key,
            InboxRecord.status == "unmatched",
        )
    )
