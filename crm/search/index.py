"""The search index: what each engine keeps so that search never scans.

SQLite keeps contentless FTS5 tables beside the tables they index (word
tables, and trigram tables of names for typo-tolerant matching). Clients,
contacts and identities are kept current by triggers, so every write path
(forms, API, the clients connector, migrations, a cascade) updates them
with the row. New events are not: an FTS5 insert made by a trigger runs
inside the statement's savepoint, which makes FTS5 write its pending terms
out for every row, 6,000 rows a second against 100,000 for one INSERT ...
SELECT. So new events are indexed after each write by `index_new_events`
(all events past the last one indexed: ids only grow), which the pipeline's
writer calls after every batch and a session calls after every flush that
added events (touches, commitments); triggers still take out deleted and
changed events. PostgreSQL needs no copy: GIN indexes over a `tsvector`
expression of the same columns (and `pg_trgm` indexes over the names),
which PostgreSQL maintains itself.

Both engines cut text into words the same way: ASCII punctuation and
white space separate words (so `jane@acme.com` is `jane acme com` and
`in_1Abc` is `in 1abc`), letters keep their accents, case is ignored. The
queries (crm.search.engines) build their terms with WORD_BREAK too.

The statements live here once: the metadata's create/drop events run them
for `db.create_all()`, and migration 0011 runs them on existing databases.
"""

import re
from dataclasses import dataclass

from sqlalchemy import DDL, event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from crm.extensions import db

# What separates words, for Python (queries) and PostgreSQL (the indexes).
WORD_BREAK = r"[\s!-/:-@\[-`{-~]+"
WORD_BREAK_RE = re.compile(WORD_BREAK)
# PostgreSQL: events are indexed with the stretch of 2**16 ids they are in.
STRETCH_BITS = 16

# SQLite: unicode61 splits on all punctuation and folds case; accents stay,
# as PostgreSQL's 'simple' configuration keeps them.
WORDS = "unicode61 remove_diacritics 0"
TRIGRAMS = "trigram"
# SQLite's own spelling of a phone number's digits (it has no regexp_replace).
_PHONE_DIGITS = "{row}.phone"
for _mark in (" ", "-", "(", ")", "+", ".", "/"):
    _PHONE_DIGITS = f"replace({_PHONE_DIGITS}, '{_mark}', '')"


@dataclass(frozen=True)
class Indexed:
    """One FTS5 table (SQLite) or GIN index (PostgreSQL) over one table.

    `columns` are (FTS column, SQLite expression over the row `{row}`).
    PostgreSQL indexes the word tables' base columns (`watched`) as one
    document, and the trigram tables' names with pg_trgm instead.
    """

    name: str
    table: str
    columns: tuple[tuple[str, str], ...]
    tokenize: str = WORDS
    # False for events: indexed by index_new_events, not row by row.
    insert_trigger: bool = True

    @property
    def watched(self) -> list[str]:
        """The base columns whose change re-indexes a row."""
        return sorted({name for _n, e in self.columns for name in re.findall(r"\{row\}\.(\w+)", e)})

    def sqlite_values(self, row: str) -> str:
        return ", ".join(expression.format(row=row) for _name, expression in self.columns)


def _plain(*names: str) -> tuple[tuple[str, str], ...]:
    return tuple((name, f"{{row}}.{name}") for name in names)


INDEXED = (
    Indexed("search_clients", "clients", _plain("name", "slug")),
    Indexed(
        "search_contacts",
        "contacts",
        (*_plain("name", "email", "phone"), ("phone_digits", _PHONE_DIGITS)),
    ),
    Indexed("search_identities", "identities", _plain("external_key")),
    Indexed(
        "search_events", "events", _plain("title", "detail", "thread_key"), insert_trigger=False
    ),
    Indexed("search_client_trigrams", "clients", _plain("name"), TRIGRAMS),
    Indexed("search_contact_trigrams", "contacts", _plain("name"), TRIGRAMS),
)
BY_NAME = {indexed.name: indexed for indexed in INDEXED}
# PostgreSQL: the names fuzzy matching reads, through pg_trgm.
PG_TRIGRAM_INDEXES = (
    ("search_client_trigrams", "clients"),
    ("search_contact_trigrams", "contacts"),
)


def pg_document(indexed: Indexed, alias: str | None = None) -> str:
    """The `tsvector` expression PostgreSQL indexes, which a query must
    repeat word for word for the planner to use the index."""
    prefix = f"{alias}." if alias else ""
    parts = " || ' ' || ".join(f"coalesce({prefix}{column}, '')" for column in indexed.watched)
    if indexed.name == "search_contacts":  # the digits of a phone number, as one word too
        parts += f" || ' ' || regexp_replace(coalesce({prefix}phone, ''), '[^0-9]', '', 'g')"
    words = f"to_tsvector('simple'::regconfig, regexp_replace({parts}, '{WORD_BREAK}', ' ', 'g'))"
    if indexed.name == "search_events":  # and the stretch of ids it is in: see event_stretch
        return f"({words} || array_to_tsvector(ARRAY['#' || ({prefix}id >> {STRETCH_BITS})::text]))"
    return words


def event_stretch(event_id: int) -> str:
    """The lexeme PostgreSQL's event index holds for the stretch of 65,536
    ids an event is in. No text can spell it (WORD_BREAK takes out `#`), so
    it changes no search; a query ANDs it in to look among the newest events
    first, which lets the GIN index itself skip all older ones instead of
    fetching every match of a common word to sort it by id."""
    return f"#{event_id >> STRETCH_BITS}"


def _sqlite_create(indexed: Indexed) -> list[str]:
    names = ", ".join(name for name, _expression in indexed.columns)
    fts, table = indexed.name, indexed.table
    add = f"INSERT INTO {fts}(rowid, {names}) VALUES (new.id, {indexed.sqlite_values('new')});"
    remove = (
        f"INSERT INTO {fts}({fts}, rowid, {names}) "
        f"VALUES ('delete', old.id, {indexed.sqlite_values('old')});"
    )
    # Rows not indexed yet (new events before index_new_events) have nothing to take out.
    indexed_yet = "" if indexed.insert_trigger else f" WHEN old.id <= {_last_indexed(fts)}"
    update = f"AFTER UPDATE OF {', '.join(indexed.watched)} ON {table}{indexed_yet}"
    statements = [
        f"CREATE VIRTUAL TABLE {fts} USING fts5({names}, content='', "
        f"tokenize='{indexed.tokenize}')",
        f"CREATE TRIGGER {fts}_ad AFTER DELETE ON {table}{indexed_yet} BEGIN {remove} END",
        f"CREATE TRIGGER {fts}_au {update} BEGIN {remove} {add} END",
        _index_rows(indexed),
    ]
    if indexed.insert_trigger:
        statements.append(f"CREATE TRIGGER {fts}_ai AFTER INSERT ON {table} BEGIN {add} END")
    return statements


def _last_indexed(fts: str) -> str:
    """The largest rowid in an FTS5 table (0 when empty), read off its end."""
    return f"coalesce((SELECT rowid FROM {fts} ORDER BY rowid DESC LIMIT 1), 0)"


def _index_rows(indexed: Indexed) -> str:
    """Index every row past the last one indexed, in one statement."""
    fts, table = indexed.name, indexed.table
    names = ", ".join(name for name, _expression in indexed.columns)
    return (
        f"INSERT INTO {fts}(rowid, {names}) SELECT id, {indexed.sqlite_values(table)} "
        f"FROM {table} WHERE id > {_last_indexed(fts)} ORDER BY id"
    )


def index_new_events(connection: Connection) -> None:
    """SQLite: index the events written since the last call (PostgreSQL's
    indexes keep themselves). Called in the writing transaction, so the
    events and their index entries commit together."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(_index_rows(BY_NAME["search_events"]))


def _index_flushed_events(session, _flush_context) -> None:
    """After a flush that added events through the ORM (a touch, a
    commitment, a test's event), index them."""
    if any(getattr(obj, "__tablename__", None) == "events" for obj in session.new):
        index_new_events(session.connection())


def pg_create_index(indexed: Indexed) -> str:
    """PostgreSQL's GIN index over one table's document."""
    return f"CREATE INDEX {indexed.name} ON {indexed.table} USING gin ({pg_document(indexed)})"


def _postgresql_create() -> list[str]:
    statements = ["CREATE EXTENSION IF NOT EXISTS pg_trgm"]
    for indexed in INDEXED:
        if indexed.tokenize == WORDS:
            statements.append(pg_create_index(indexed))
    for name, table in PG_TRIGRAM_INDEXES:
        statements.append(f"CREATE INDEX {name} ON {table} USING gin (name gin_trgm_ops)")
    return statements


def create_statements(dialect: str) -> list[str]:
    """Everything the search needs on this engine, filled from the rows there."""
    if dialect == "sqlite":
        return [statement for indexed in INDEXED for statement in _sqlite_create(indexed)]
    if dialect == "postgresql":
        return _postgresql_create()
    return []


def drop_statements(dialect: str) -> list[str]:
    """Undo create_statements (SQLite drops a table's triggers with it)."""
    if dialect == "sqlite":
        return [
            statement
            for indexed in INDEXED
            for statement in (
                *(f"DROP TRIGGER IF EXISTS {indexed.name}_{when}" for when in ("ai", "ad", "au")),
                f"DROP TABLE IF EXISTS {indexed.name}",
            )
        ]
    if dialect == "postgresql":
        names = [indexed.name for indexed in INDEXED if indexed.tokenize == WORDS]
        return [
            f"DROP INDEX IF EXISTS {name}" for name in names + [n for n, _ in PG_TRIGRAM_INDEXES]
        ]
    return []


def include_name(name: str | None, type_: str, _parent_names) -> bool:
    """Alembic's filter: the search index's tables and indexes (SQLite's FTS5
    tables with their shadow tables, PostgreSQL's GIN indexes) are not in the
    models' metadata, and autogenerate must not offer to drop them."""
    return not (type_ in ("table", "index") and (name or "").startswith("search_"))


def _run(statements_of):
    def listener(_target, connection: Connection, **_kw) -> None:
        for statement in statements_of(connection.dialect.name):
            connection.execute(DDL(statement.replace("%", "%%")))

    return listener


event.listen(Session, "after_flush", _index_flushed_events)
event.listen(db.metadata, "after_create", _run(create_statements))
event.listen(db.metadata, "before_drop", _run(drop_statements))
