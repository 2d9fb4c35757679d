"""Search across clients, contacts, identities and the timeline: one answer
for the page, the header's client switcher and the API, on either engine.

The engine finds candidates in its index (crm.search.engines); this module
loads them, ranks them and says what each is, so that both engines give the
same hits in the same order. Ranking, per kind:

- clients, contacts, identities: the whole query equal to the name (or slug,
  e-mail, phone, key) first, then names that start with it, then any other
  match; when nothing of any kind asked for matches, names that only look
  like it (a typo: trigram similarity at least FUZZY_THRESHOLD), by that
  similarity; ties by name.
- threads and events: the thread whose key is the query (a ticket id, an
  invoice id) first, then the most recently recorded. A thread is one hit,
  named by its newest matching event. The last word is looked for whole
  first, and as the start of a word only when that finds fewer than
  CANDIDATES: among millions of events a finished word has enough matches,
  and an index finds a prefix's matches by collecting every event of every
  word it starts (on PostgreSQL, hundreds of thousands for a common one).
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from flask import url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.models import Client, Contact, Event, Identity
from crm.search.engines import Query, index_for, similarity

KINDS = ("client", "contact", "identity", "thread", "event")
KIND_LABELS = {
    "client": "Clients",
    "contact": "Contacts",
    "identity": "Identities",
    "thread": "Threads",
    "event": "Events",
}
DEFAULT_LIMIT = 10
MAX_LIMIT = 50
# pg_trgm's own default for similarity(): a transposed pair of letters
# ("Hrabour") scores ~0.33, a missing double letter ("Colins") ~0.67.
FUZZY_THRESHOLD = 0.3
# How many candidates an engine gives per kind before ranking: enough that
# the best `limit` of them are the best of all.
CANDIDATES = 200
# Names that share trigrams with the query, ranked by the engine, measured here.
FUZZY_CANDIDATES = 50
EXACT, PREFIX, WORDS = 3.0, 2.0, 1.0
# The kinds whose names may be mistyped, and their tables.
NAMED = {"client": "clients", "contact": "contacts"}


@dataclass
class Hit:
    kind: str
    client_slug: str
    client_name: str
    title: str
    detail: str | None
    score: float
    thread_type: str | None = None
    thread_key: str | None = None
    occurred_at: datetime | None = None
    order: tuple = ()

    @property
    def client(self) -> dict[str, str]:
        return {"slug": self.client_slug, "name": self.client_name}

    @property
    def url(self) -> str:
        """The page this hit opens: its thread, or its client (an event with
        no thread opens the client's timeline filtered to its title)."""
        if self.thread_key:
            return url_for(
                "timeline.thread_page",
                slug=self.client_slug,
                thread_type=self.thread_type,
                key=self.thread_key,
            )
        if self.kind == "event":
            return url_for("timeline.client_page", slug=self.client_slug, q=self.title)
        return url_for("timeline.client_page", slug=self.client_slug)


@dataclass
class SearchResults:
    query: str
    hits: list[Hit] = field(default_factory=list)

    def grouped(self) -> list[tuple[str, str, list[Hit]]]:
        """(kind, label, hits) for each kind that has hits, in KINDS' order."""
        return [
            (kind, KIND_LABELS[kind], found)
            for kind in KINDS
            if (found := [hit for hit in self.hits if hit.kind == kind])
        ]


def search(
    session: Session, typed: str, kinds: Iterable[str] = (), limit: int = DEFAULT_LIMIT
) -> SearchResults:
    """The best `limit` hits of each kind asked for (all kinds when none)."""
    wanted = set(kinds) or set(KINDS)
    query = Query.parse(typed)
    results = SearchResults(query=typed.strip())
    if not query:
        return results
    index = index_for(session)
    found: list[Hit] = []
    # PostgreSQL hands names over in the ranking's own order: a few more
    # than shown are enough; SQLite's FTS5 orders them by bm25.
    named_candidates = max(3 * limit, 30) if index.orders_like_ranking else CANDIDATES
    if "identity" in wanted:
        found += _identities(session, index, query, typed, named_candidates)
    if wanted & {"thread", "event"}:
        found += [hit for hit in _events(session, index, query, typed) if hit.kind in wanted]
    named = {
        kind: index.matching(NAMED[kind], query, named_candidates)
        for kind in NAMED
        if kind in wanted
    }
    # Names that only look alike (a typo), as a search engine says "did you
    # mean": only when nothing matches every word, of any kind asked for.
    near = {kind: [] for kind in named}
    if not found and not any(named.values()):
        near = {kind: index.similar_names(NAMED[kind], query, FUZZY_CANDIDATES) for kind in named}
    if "client" in named:
        found += _clients(session, named["client"], near["client"], typed)
    if "contact" in named:
        found += _contacts(session, named["contact"], near["contact"], typed)
    for kind in KINDS:
        ranked = sorted((hit for hit in found if hit.kind == kind), key=lambda h: h.order)
        results.hits += ranked[:limit]
    return results


def _closeness(typed: str, *values: str | None) -> float:
    """EXACT, PREFIX or WORDS: how the query meets the best of the values,
    compared as their words (so `acme.com` is `Acme Com`)."""
    wanted = " ".join(Query.parse(typed).words)
    best = WORDS
    for value in values:
        words = " ".join(Query.parse(value or "").words)
        if words == wanted:
            return EXACT
        if words.startswith(wanted):
            best = PREFIX
    return best


def _clients(session: Session, exact: list, near: list, typed: str) -> list[Hit]:
    rows = {c.id: c for c in session.scalars(select(Client).where(Client.id.in_(exact + near)))}
    hits = []
    for client_id, is_exact in [(i, True) for i in exact] + [(i, False) for i in near]:
        client = rows.get(client_id)
        if client is None:
            continue
        score = _closeness(typed, client.name, client.slug) if is_exact else None
        if score is None and (score := similarity(typed, client.name)) < FUZZY_THRESHOLD:
            continue
        detail = " · ".join(filter(None, (client.tier, client.account_manager)))
        hits.append(_hit("client", client, client.name, detail, score, client.name.lower()))
    return hits


def _contacts(session: Session, exact: list, near: list, typed: str) -> list[Hit]:
    by_id = _with_clients(session, Contact, exact + near)
    hits = []
    for contact_id, is_exact in [(i, True) for i in exact] + [(i, False) for i in near]:
        if contact_id not in by_id:
            continue
        contact, client = by_id[contact_id]
        digits = "".join(ch for ch in contact.phone or "" if ch.isdigit())
        if is_exact:
            score = _closeness(typed, contact.name, contact.email, contact.phone, digits)
        elif (score := similarity(typed, contact.name)) < FUZZY_THRESHOLD:
            continue
        detail = " · ".join(filter(None, (contact.role, contact.email, contact.phone)))
        hits.append(_hit("contact", client, contact.name, detail, score, contact.name.lower()))
    return hits


def _identities(session: Session, index, query: Query, typed: str, candidates: int) -> list[Hit]:
    ids = index.matching("identities", query, candidates)
    hits = []
    for identity, client in _with_clients(session, Identity, ids).values():
        score = _closeness(typed, identity.external_key)
        title = f"{identity.system}: {identity.external_key}"
        hits.append(_hit("identity", client, title, client.name, score, title.lower()))
    return hits


def _events(session: Session, index, query: Query, typed: str) -> list[Hit]:
    """One hit per thread (its newest matching event) or per lone event."""
    ids = index.matching("events", query.whole_words(), CANDIDATES, newest_first=True)
    if len(ids) < CANDIDATES:  # too few with the last word whole: as its start too
        ids = index.matching("events", query, CANDIDATES, newest_first=True)
    found = _with_clients(session, Event, ids)
    rows = [found[event_id] for event_id in sorted(found, reverse=True)]
    wanted_key = typed.strip().lower()
    seen: set = set()
    hits = []
    for event, client in rows:
        thread = (event.client_id, event.thread_type, event.thread_key)
        if event.thread_key:
            if thread in seen:
                continue
            seen.add(thread)
        score = EXACT if (event.thread_key or "").lower() == wanted_key else WORDS
        hit = _hit(
            "thread" if event.thread_key else "event",
            client,
            event.title,
            event.detail,
            score,
            -event.id,
        )
        hit.thread_type, hit.thread_key, hit.occurred_at = (
            event.thread_type,
            event.thread_key,
            event.occurred_at,
        )
        hits.append(hit)
    return hits


def _with_clients(session: Session, model, ids: list) -> dict:
    """{id: (row, its client)} for these ids: the rows by their key, then
    their clients by theirs (a join would have the planner read every client)."""
    rows = session.scalars(select(model).where(model.id.in_(ids))).all() if ids else []
    wanted = {row.client_id for row in rows}
    clients = {c.id: c for c in session.scalars(select(Client).where(Client.id.in_(wanted)))}
    return {row.id: (row, clients[row.client_id]) for row in rows}


def _hit(kind: str, client: Client, title: str, detail, score: float, tie) -> Hit:
    return Hit(
        kind=kind,
        client_slug=client.slug,
        client_name=client.name,
        title=title,
        detail=detail or None,
        score=score,
        order=(-score, tie, client.slug),
    )
