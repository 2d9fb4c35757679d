"""Finding candidates in the search index, one class per engine.

Each engine answers the same questions with the ids of the rows that match
(crm.search.operations loads, ranks and names them, the same way for both):
which clients, contacts, identities and events hold every term of a query
(the last term, being typed, may end with the start of a word; earlier
ones are whole words, which keeps a phone number's short groups from
matching every number that starts with them), and which client and
contact names look like a mistyped word of it (trigrams). Nothing here
reads a table row by row: SQLite asks its FTS5 tables, PostgreSQL its GIN
indexes (crm.search.index).
"""

import functools
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from crm.search.index import BY_NAME, STRETCH_BITS, WORD_BREAK_RE, event_stretch, pg_document

MAX_TERMS = 8
MAX_WORD = 64
# Words shorter than this are not looked up by trigrams: too many names share them.
MIN_FUZZY = 3
# PostgreSQL's candidates for typos: at least this word_similarity (pg_trgm).
FUZZY_FLOOR = 0.3
TABLES = {"clients": "search_clients", "contacts": "search_contacts"}
TABLES |= {"identities": "search_identities", "events": "search_events"}
# PostgreSQL: the most matches one statement fetches before sorting them.
CAP = 2000
# PostgreSQL: how many stretches of event ids each look covers, newest first.
STRETCH_LOOKS = (1, 8)
# What candidates are ordered by before they are ranked (PostgreSQL).
ORDER_COLUMNS = {"clients": "name", "contacts": "name", "identities": "external_key"}
TRIGRAM_TABLES = {"clients": "search_client_trigrams", "contacts": "search_contact_trigrams"}


@dataclass(frozen=True)
class Query:
    """A query as the index reads it: terms (what was typed between spaces),
    each a run of words, which must follow each other in the text."""

    terms: tuple[tuple[str, ...], ...]
    # Whether the last word may be the start of a word (it is being typed).
    prefix: bool = True

    @classmethod
    def parse(cls, typed: str) -> "Query":
        terms = []
        for chunk in typed.split()[:MAX_TERMS]:
            words = tuple(w[:MAX_WORD].lower() for w in WORD_BREAK_RE.split(chunk) if w)
            if words:
                terms.append(words)
        return cls(tuple(terms))

    @property
    def words(self) -> list[str]:
        return [word for term in self.terms for word in term]

    @property
    def name_words(self) -> list[str]:
        """The words a typo is looked for in: letters only (a key, a number
        or an address is typed exactly), and long enough to have trigrams."""
        return [w for w in self.words if w.isalpha() and len(w) >= MIN_FUZZY]

    def marked(self) -> list[tuple[tuple[str, ...], bool]]:
        """Each term, and whether its last word may be a prefix (the last
        term, being typed, unless the query is of whole words)."""
        last = len(self.terms) - 1 if self.prefix else -1
        return [(term, at == last) for at, term in enumerate(self.terms)]

    def whole_words(self) -> "Query":
        """The same words, the last one whole too."""
        return Query(self.terms, prefix=False)

    def __bool__(self) -> bool:
        return bool(self.terms)


class SQLiteIndex:
    """FTS5: `"w1 w2"*` is a phrase whose last word may be a prefix; terms
    side by side must all match. Trigram tables match any of the trigrams."""

    orders_like_ranking = False  # bm25

    def __init__(self, session: Session):
        self.session = session

    def matching(self, table: str, query: Query, limit: int, newest_first: bool = False) -> list:
        fts = TABLES[table]
        match = " ".join(
            '"' + " ".join(term) + ('"*' if last else '"') for term, last in query.marked()
        )
        order = "rowid DESC" if newest_first else "rank"
        sql = f"SELECT rowid FROM {fts} WHERE {fts} MATCH :match ORDER BY {order} LIMIT :limit"
        return self.session.scalars(text(sql), {"match": match, "limit": limit}).all()

    def similar_names(self, table: str, query: Query, limit: int) -> list:
        grams = sorted({g for w in query.name_words for g in _trigrams(w)})
        if not grams:
            return []
        fts = TRIGRAM_TABLES[table]
        match = " OR ".join(f'"{gram}"' for gram in grams)
        sql = f"SELECT rowid FROM {fts} WHERE {fts} MATCH :match ORDER BY rank LIMIT :limit"
        return self.session.scalars(text(sql), {"match": match, "limit": limit}).all()


class PostgreSQLIndex:
    """`tsvector` @@ `tsquery` over the indexed expression (`w1 <-> w2:*`
    for a term, `&` between terms); pg_trgm's `<%` for names.

    Every statement lets the GIN index find the matches and caps them before
    anything is sorted or measured: the planner never walks a table in id or
    name order testing each row, and a common word costs no more than CAP
    rows. Candidates are ordered as crm.search.operations ranks them (the
    whole name, then names starting with the query, then by name), not by
    ts_rank, which would rebuild every match's document.
    """

    orders_like_ranking = True

    def __init__(self, session: Session):
        self.session = session
        self.newest: dict[str, int | None] = {}

    def matching(self, table: str, query: Query, limit: int, newest_first: bool = False) -> list:
        if newest_first:
            return self._newest(table, query, limit)
        column = ORDER_COLUMNS[table]
        whole = " ".join(query.words)
        sql = (
            f"WITH found AS MATERIALIZED (SELECT id, lower({column}) AS named FROM {table} "
            f"WHERE {self._match(table)} LIMIT :cap) "
            "SELECT id FROM found ORDER BY named = :whole DESC, "
            "starts_with(named, :whole) DESC, named, id LIMIT :limit"
        )
        params = {"tsquery": _tsquery(query), "cap": CAP, "whole": whole, "limit": limit}
        return self.session.scalars(text(sql), params).all()

    def _match(self, table: str, stretches: str | None = None) -> str:
        """The condition that a row matches :tsquery (and the stretches of
        ids in the parameter named `stretches`)."""
        document = pg_document(BY_NAME[TABLES[table]])
        wanted = "to_tsquery('simple'::regconfig, :tsquery)"
        if stretches:
            wanted = f"({wanted} && CAST(:{stretches} AS tsquery))"
        return f"{document} @@ {wanted}"

    def _newest(self, table: str, query: Query, limit: int) -> list:
        """The newest matches, looking at the newest stretch of ids first,
        then the eight before it, then all the rest, until `limit` are found.
        One statement: its looks are the branches of a UNION ALL under a
        LIMIT, which PostgreSQL runs in turn and stops once it has `limit`
        rows (the rows say their look, so their order holds whatever the
        plan). Within one look at most CAP matches are sorted: a word in more
        than CAP events of one stretch is common enough that any CAP of them
        are as good as the newest."""
        if table not in self.newest:  # once a search: whole words, then a prefix
            self.newest[table] = self.session.scalar(text(f"SELECT max(id) FROM {table}"))
        newest = self.newest[table]
        if newest is None:
            return []
        top = newest >> STRETCH_BITS
        params: dict = {"tsquery": _tsquery(query), "cap": CAP, "limit": limit}
        looks, looked = [], 0
        for width in (*STRETCH_LOOKS, None):
            if looked > top:
                break
            if width is None:  # all the stretches not looked at yet
                params[f"s{len(looks)}"] = "!(" + _any_stretch(top, looked) + ")"
            else:
                params[f"s{len(looks)}"] = _any_stretch(top - looked, min(width, top - looked + 1))
                looked += width
            looks.append(
                f"(SELECT {len(looks)} AS look, id FROM (SELECT id FROM {table} "
                f"WHERE {self._match(table, f's{len(looks)}')} LIMIT :cap) AS found "
                "ORDER BY id DESC LIMIT :limit)"
            )
        sql = f"SELECT look, id FROM ({' UNION ALL '.join(looks)}) AS looks LIMIT :limit"
        rows = self.session.execute(text(sql), params).all()
        return [row.id for row in sorted(rows, key=lambda row: (row.look, -row.id))]

    def similar_names(self, table: str, query: Query, limit: int) -> list:
        words = query.name_words
        if not words:
            return []
        # `<%` keeps names whose best stretch is this alike to the word; its
        # default (0.6) would miss a transposition, which the ranking keeps.
        # The trigram index is the way to them, whatever the planner thinks
        # of a small table: measuring every name is what made typos slow.
        self.session.execute(
            text(
                f"SET LOCAL pg_trgm.word_similarity_threshold = {FUZZY_FLOOR}; "
                "SET LOCAL enable_seqscan = off"
            )
        )
        params = {f"w{i}": word for i, word in enumerate(words)} | {"limit": limit, "cap": CAP}
        near = " OR ".join(f":w{i} <% name" for i in range(len(words)))
        alike = " + ".join(f"word_similarity(:w{i}, name)" for i in range(len(words)))
        sql = (
            f"WITH near AS MATERIALIZED (SELECT id, name FROM {table} WHERE {near} LIMIT :cap) "
            f"SELECT id FROM near ORDER BY {alike} DESC, id LIMIT :limit"
        )
        ids = self.session.scalars(text(sql), params).all()
        self.session.execute(text("SET LOCAL enable_seqscan = on"))
        return ids


def _tsquery(query: Query) -> str:
    return " & ".join(
        " <-> ".join((*term[:-1], term[-1] + (":*" if last else "")))
        for term, last in query.marked()
    )


def _any_stretch(first: int, count: int) -> str:
    """A tsquery matching events of `count` stretches down from `first`."""
    return " | ".join(
        f"'{event_stretch(n << STRETCH_BITS)}'" for n in range(first, first - count, -1)
    )


def index_for(session: Session):
    """The index of the engine this session speaks to."""
    dialect = session.get_bind().dialect.name
    return PostgreSQLIndex(session) if dialect == "postgresql" else SQLiteIndex(session)


def _trigrams(word: str) -> set[str]:
    return {word[i : i + 3] for i in range(len(word) - 2)}


@functools.lru_cache(maxsize=65536)
def padded_trigrams(word: str) -> frozenset[str]:
    """pg_trgm's trigrams of one word: padded with two spaces before, one after."""
    return frozenset(_trigrams(f"  {word} "))


def similarity(typed: str, name: str) -> float:
    """How alike a typed query and a name are, for typo tolerance: for each
    typed word its best trigram similarity (pg_trgm's measure) to a word of
    the name, and the worst of those. The same measure on both engines."""
    name_words = [w.lower() for w in WORD_BREAK_RE.split(name) if w]
    typed_words = [w.lower() for w in WORD_BREAK_RE.split(typed) if w]
    if not name_words or not typed_words:
        return 0.0
    best = []
    for word in typed_words:
        mine = padded_trigrams(word)
        best.append(
            max(len(mine & padded_trigrams(o)) / len(mine | padded_trigrams(o)) for o in name_words)
        )
    return min(best)
