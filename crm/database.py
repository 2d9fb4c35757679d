"""Engine-level set-up and the few statements that differ per engine."""

import contextlib
import functools
from collections.abc import Iterable, Iterator, Mapping, Sequence

from sqlalchemy import Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, scoped_session

# Set on every SQLite connection (bench/ingest.py gives its raw baseline the
# same ones, so the comparison stays fair).
SQLITE_PRAGMAS = (
    # Readers never block the ingest writer.
    "journal_mode=WAL",
    # SQLite leaves foreign keys off unless every connection asks for them.
    "foreign_keys=ON",
    # With WAL, NORMAL cannot corrupt the database; only the last commits
    # before a power cut may be lost.
    "synchronous=NORMAL",
    # Copy the WAL back into the database (and fsync) once it holds ~40 MB,
    # not the default ~4 MB: an ingest batch writes more than 4 MB, so the
    # default checkpointed after nearly every batch (~5% of ingest time).
    "wal_autocheckpoint=10000",
)


def configure_engine(engine: Engine, busy_timeout_ms: int) -> None:
    """Settings every new connection gets: on SQLite, SQLITE_PRAGMAS and the
    busy timeout; on PostgreSQL, no JIT compilation. The app's statements
    each read a few thousand rows at most, which PostgreSQL's JIT takes for
    big ones: compiling them took longer than running them (90 of a
    briefing's 170 ms of events query at ten million events)."""
    if engine.dialect.name == "postgresql":

        @event.listens_for(engine, "connect")
        def _no_jit(dbapi_connection, _record):
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SET jit = off")
            dbapi_connection.commit()

        return
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(f"PRAGMA {pragma}")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()


def read_outside_transaction(session: Session | scoped_session) -> bool:
    """On PostgreSQL, let this session's next statements run outside a
    transaction, each committed on its own; True if it did.

    For a read, PostgreSQL's READ COMMITTED takes a new snapshot for every
    statement anyway, so its BEGIN and ROLLBACK buy nothing but two round
    trips: a tenth of an API page's time. A write the read makes (a
    token's last use, an audit entry) is one statement, committed at once.
    SQLite has no round trip to save. Only before the session's transaction
    has begun; later it changes nothing.
    """
    if isinstance(session, scoped_session):
        session = session()
    if session.get_bind().dialect.name != "postgresql" or session.in_transaction():
        return False
    session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    return True


@contextlib.contextmanager
def planned_for_their_values(session: Session | scoped_session) -> Iterator[None]:
    """Statements run inside are planned by PostgreSQL for the values they
    carry, every time, never by a plan cached for any values.

    psycopg prepares a statement run five times on a connection, and after
    five runs of it PostgreSQL may keep one generic plan, made for an
    average client. Clients differ by a hundred times here (2,000 events or
    200,000), and for the big reads of a report the generic plan of a busy
    client's threads cost twice its own (a briefing at ten million events:
    83 -> 37 ms for the threads, 200 -> 167 ms for the events). The small
    statements of a page keep their prepared plans: planning each one anew
    cost a timeline page a tenth of its time.
    """
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        yield
        return
    dbapi_connection = connection.connection.dbapi_connection
    threshold = dbapi_connection.prepare_threshold
    dbapi_connection.prepare_threshold = None  # psycopg: prepare nothing
    try:
        yield
    finally:
        dbapi_connection.prepare_threshold = threshold


# --- bulk statements ------------------------------------------------------------
#
# Ingest writes and looks up thousands of rows per batch. These helpers send
# them through the driver's executemany as tuples, with each column's values
# converted once, column by column, the way its SQLAlchemy type would convert
# them. Core would build a parameter dict per row and run every value through
# its type's processors, which cost more than SQLite's own work.

# Keys per lookup statement: at most 6,000 parameters, well under SQLite's
# 32,766 and PostgreSQL's 65,535. PostgreSQL answers a lookup in a table of
# up to ~1M rows with one scan of it, so fewer, larger statements pay off.
CHUNK = 2000


def chunks(items: Sequence, size: int = CHUNK) -> Iterator[Sequence]:
    """Slices of `items` small enough for one statement's parameters."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def write_rows(
    session: Session,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence],
    keys: Sequence[str],
    *,
    update: bool,
) -> int:
    """INSERT ... ON CONFLICT (keys) DO NOTHING, or with `update` DO UPDATE
    every other given column; answers how many rows went in (or changed).

    `rows` hold Python values in `columns` order.
    """
    if not rows:
        return 0
    columns, keys = tuple(columns), tuple(keys)
    connection = session.connection()
    sql = _write_statement(connection.dialect, table, columns, keys, update)
    processors = _processors(connection.dialect, table, columns)
    return connection.exec_driver_sql(sql, _convert_columns(rows, processors)).rowcount


# The two rules for a row whose keys are taken: keep the stored one, or
# overwrite it with the new values.
insert_ignoring_conflicts = functools.partial(write_rows, update=False)
upsert = functools.partial(write_rows, update=True)


def add_up(session: Session, table: Table, keys: Sequence[str], values: list[dict]) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE adding each other column of
    `values` (dicts, in key order, so that two writers lock shared rows in
    the same order) to what the row holds: the caches kept by the writes of
    events (crm.collected, crm.day_counts)."""
    connection = session.connection()
    insert = (postgresql if connection.dialect.name == "postgresql" else sqlite).insert
    statement = insert(table)
    added = [name for name in values[0] if name not in keys]
    statement = statement.on_conflict_do_update(
        index_elements=[table.c[name] for name in keys],
        set_={name: table.c[name] + statement.excluded[name] for name in added},
    )
    connection.execute(statement, values)


def storage_columns(dialect, table: Table, columns: Mapping[str, Sequence]) -> dict[str, Sequence]:
    """Each column's values as the driver takes them for `table`, converted
    the way the column's type converts them. Pure: a batch can be made ready
    before its transaction begins."""
    processors = _processors(dialect, table, tuple(columns))
    return {
        name: _convert(process, values) if process and values else values
        for process, (name, values) in zip(processors, columns.items(), strict=True)
    }


def insert_new(
    session: Session, table: Table, columns: Mapping[str, Sequence], keys: Sequence[str]
) -> list[int]:
    """Insert the rows whose `keys` are not taken; answers the positions of
    the rows that went in, in order. `columns` maps each column name to its
    Python values, one per row (see `insert_new_stored`)."""
    dialect = session.get_bind().dialect
    return insert_new_stored(session, table, storage_columns(dialect, table, columns), keys)


def insert_new_stored(
    session: Session, table: Table, stored: Mapping[str, Sequence], keys: Sequence[str]
) -> list[int]:
    """`insert_new` for values already converted by `storage_columns`.

    No two rows may share their keys. The table's primary key must be `id`.
    INSERT ... ON CONFLICT (keys) DO NOTHING, and then what tells which rows
    went in costs the least on each engine:

    - SQLite: executemany, whose count says whether every row went in, as
      nearly always; only when some did not are the rows looked up by key.
      SQLite numbers each new row one past the largest id in the table, and
      only one connection writes at a time, so the rows that went in are
      those holding the last `count` ids. (A multi-row INSERT ... RETURNING
      costs a quarter more than executemany here.)
    - PostgreSQL: COPY into a temporary table of the session, then one
      INSERT ... SELECT from it with RETURNING keys, which says which rows
      went in whatever other sessions write meanwhile. The server then does
      per row only what the table needs (its indexes, its foreign keys), not
      a statement's work as well: into ten million events a sixth to a
      quarter less of its time than executemany's statement per row, and
      less of ours. (Where several workers share the server's cores, its
      time is what bounds them.)
    """
    names, keys = tuple(stored), tuple(keys)
    values = list(stored.values())
    count = len(values[0]) if values else 0
    if not count:
        return []
    connection = session.connection()
    dialect = connection.dialect
    key_columns = [stored[name] for name in keys]
    if dialect.name == "sqlite":
        sql = _write_statement(dialect, table, names, keys, update=False)
        inserted = connection.exec_driver_sql(sql, list(zip(*values, strict=True))).rowcount
        if inserted == count:
            return list(range(count))
        if inserted == 0:
            return []
        last = connection.exec_driver_sql("SELECT last_insert_rowid()").scalar_one()
        wanted = list(zip(*key_columns, strict=True))
        ids = {
            tuple(found[:-1]): found[-1]
            for found in rows_with_keys(session, table, (*keys, "id"), keys, wanted)
        }
        first = last - inserted + 1
        return [position for position, key in enumerate(wanted) if ids[key] >= first]
    went_in = set(_copy_in_new(connection, table, names, keys, zip(*values, strict=True)))
    return [
        position for position, key in enumerate(zip(*key_columns, strict=True)) if key in went_in
    ]


def _copy_in_new(connection, table: Table, names, keys, rows: Iterable[tuple]) -> list[tuple]:
    """PostgreSQL: the rows whose keys are new go into `table` through a
    staging table; the keys of those that went in."""
    quote = connection.dialect.identifier_preparer.quote
    target = connection.dialect.identifier_preparer.format_table(table)
    staging = quote(f"staging_{table.name}")
    columns = ", ".join(map(quote, names))
    key_list = ", ".join(map(quote, keys))
    with connection.connection.cursor() as cursor:
        # The session's own table, with every column of the target (callers
        # give different ones), emptied at every commit and here too: a
        # transaction may write more than one batch. Made again after a
        # rollback (which takes its making back with it).
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging} ON COMMIT DELETE ROWS"
            f" AS SELECT * FROM {target} WITH NO DATA"
        )
        cursor.execute(f"TRUNCATE {staging}")
        with cursor.copy(f"COPY {staging} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(
            f"INSERT INTO {target} ({columns}) SELECT {columns} FROM {staging}"
            f" ON CONFLICT ({key_list}) DO NOTHING RETURNING {key_list}"
        )
        return [tuple(found) for found in cursor.fetchall()]


def rows_with_keys(
    session: Session,
    table: Table,
    columns: Sequence[str],
    key_columns: Sequence[str],
    keys: Iterable[tuple],
    *,
    lock: bool = False,
) -> list[tuple]:
    """`columns` of every row whose `key_columns` equal one of `keys`.

    The keys are joined as a VALUES list, so each costs one probe of the index
    on `key_columns`. The natural spelling, tuple_(...).in_(...), makes SQLite
    scan the whole index for every statement (EXPLAIN QUERY PLAN: "SCAN ...
    LIST SUBQUERY"), so each batch got slower as the table grew. Values come
    back converted by the columns' types, as from a Core select.

    `lock`: the rows are to be rewritten from what is read, so on PostgreSQL
    they are locked (FOR UPDATE, in key order, so two writers never wait for
    each other in a circle) until the transaction ends; a row another
    transaction is changing is read once that one has committed. SQLite has
    one writer at a time, whose reads nobody can change under it.
    """
    connection = session.connection()
    dialect = connection.dialect
    keys = sorted(keys)
    lock = lock and dialect.name == "postgresql"
    found, processors = [], None
    for chunk in chunks(keys):
        sql = _lookup_statement(
            dialect, table, tuple(columns), tuple(key_columns), len(chunk), lock
        )
        result = connection.exec_driver_sql(sql, tuple(value for key in chunk for value in key))
        if processors is None:  # some depend on the type the driver reports
            processors = [
                column_type.dialect_impl(dialect).result_processor(dialect, description[1])
                for column_type, description in zip(
                    (table.c[name].type for name in columns), result.cursor.description, strict=True
                )
            ]
        found += result.all()
    return _convert_columns(found, processors or ())


@functools.lru_cache(maxsize=64)
def _write_statement(dialect, table: Table, columns: tuple, keys: tuple, update: bool) -> str:
    sql = _insert_head(dialect, table, columns) + _values_row(dialect, len(columns))
    sql += f" ON CONFLICT ({', '.join(map(dialect.identifier_preparer.quote, keys))}) DO "
    if update:
        quote = dialect.identifier_preparer.quote
        changed = [quote(name) for name in columns if name not in keys]
        return sql + "UPDATE SET " + ", ".join(f"{name} = excluded.{name}" for name in changed)
    return sql + "NOTHING"


def _insert_head(dialect, table: Table, columns: tuple) -> str:
    quote = dialect.identifier_preparer.quote
    return (
        f"INSERT INTO {dialect.identifier_preparer.format_table(table)}"
        f" ({', '.join(map(quote, columns))}) VALUES "
    )


def _values_row(dialect, width: int) -> str:
    return "(" + ", ".join([_placeholder(dialect)] * width) + ")"


@functools.lru_cache(maxsize=64)
def _processors(dialect, table: Table, columns: tuple) -> list:
    return [_bind_processor(table.c[name].type, dialect) for name in columns]


@functools.lru_cache(maxsize=64)
def _lookup_statement(
    dialect, table: Table, columns: tuple, key_columns: tuple, count: int, lock: bool = False
):
    quote, mark = dialect.identifier_preparer.quote, _placeholder(dialect)
    wanted = [f"k{i}" for i in range(len(key_columns))]
    row = "(" + ", ".join([mark] * len(key_columns)) + ")"
    joined = " AND ".join(
        f"t.{quote(name)} = wanted.{alias}" for name, alias in zip(key_columns, wanted, strict=True)
    )
    sql = (
        f"WITH wanted ({', '.join(wanted)}) AS (VALUES {', '.join([row] * count)})"
        f" SELECT {', '.join(f't.{quote(name)}' for name in columns)}"
        f" FROM wanted JOIN {dialect.identifier_preparer.format_table(table)} AS t ON {joined}"
    )
    if lock:
        order = ", ".join(f"t.{quote(name)}" for name in key_columns)
        sql += f" ORDER BY {order} FOR UPDATE OF t"
    return sql


def _placeholder(dialect) -> str:
    if dialect.paramstyle == "qmark":
        return "?"
    if dialect.paramstyle in ("format", "pyformat"):
        return "%s"
    raise NotImplementedError(f"paramstyle {dialect.paramstyle}")


def _bind_processor(column_type, dialect):
    bulk = getattr(column_type, "bulk_bind_processor", None)
    return (bulk and bulk(dialect)) or column_type.dialect_impl(dialect).bind_processor(dialect)


def _convert_columns(rows: Sequence[Sequence], processors: Sequence) -> list[tuple]:
    """The rows with each column's values run through its processor, if any."""
    if not rows or not any(processors):
        return [tuple(row) for row in rows]
    columns = list(zip(*rows, strict=True))
    for index, process in enumerate(processors):
        if process is not None:
            columns[index] = _convert(process, columns[index])
    return list(zip(*columns, strict=True))


def _convert(process, values: Sequence) -> Sequence:
    first = values[0]
    if all(value is first for value in values):
        # One object for the whole column (a batch's received_at): convert once.
        return [process(first)] * len(values)
    return list(map(process, values))
