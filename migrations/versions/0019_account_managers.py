"""account managers are user accounts: clients.manager_id, matched from the names

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05

Each client's free-text account manager is matched to the one active user
account whose e-mail address or display name it is, case and spaces aside
(crm.models.clients.match_account's rule, repeated here so that the
migration does not change when the code does): that client's manager_id is
set and its text cleared. A name that matches no account, or two, stays in
`account_manager` and is listed at /admin/managers for an admin to assign.
Downgrading writes each assigned manager's name back into the text.
"""

import sqlalchemy as sa
from alembic import op

from crm.search.index import create_statements

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def _key(text: str) -> str:
    return " ".join(text.split()).casefold()


def _matches(connection) -> dict[str, int]:
    """{manager text as stored: the user id it names}, for the names that
    name exactly one active account."""
    users = connection.execute(
        sa.text("SELECT id, email, name FROM users WHERE active = :yes"), {"yes": True}
    ).all()
    by_email = {_key(email): user_id for user_id, email, _ in users}
    by_name: dict[str, list[int]] = {}
    for user_id, _, name in users:
        by_name.setdefault(_key(name), []).append(user_id)
    names = connection.execute(
        sa.text("SELECT DISTINCT account_manager FROM clients WHERE account_manager IS NOT NULL")
    ).scalars()
    found = {}
    for text in names:
        key = _key(text)
        if not key:
            continue
        if key in by_email:
            found[text] = by_email[key]
        elif len(by_name.get(key, ())) == 1:
            found[text] = by_name[key][0]
    return found


FK = "fk_clients_manager_id_users"
INDEX = "ix_clients_manager_id"


def upgrade():
    connection = op.get_bind()
    if connection.dialect.name == "sqlite":
        _rebuild_clients_on_sqlite(_add_manager_id)
    else:
        with op.batch_alter_table("clients") as batch_op:  # plain ALTER TABLEs here
            _add_manager_id(batch_op)
    for text, user_id in _matches(connection).items():
        connection.execute(
            sa.text(
                "UPDATE clients SET manager_id = :user_id, account_manager = NULL "
                "WHERE account_manager = :text"
            ),
            {"user_id": user_id, "text": text},
        )


def downgrade():
    connection = op.get_bind()
    connection.execute(
        sa.text(
            "UPDATE clients SET account_manager = "
            "(SELECT substr(users.name, 1, 120) FROM users WHERE users.id = clients.manager_id) "
            "WHERE manager_id IS NOT NULL"
        )
    )
    if connection.dialect.name == "sqlite":
        _rebuild_clients_on_sqlite(_drop_manager_id)
    else:
        with op.batch_alter_table("clients") as batch_op:
            _drop_manager_id(batch_op)


def _add_manager_id(batch_op) -> None:
    batch_op.add_column(sa.Column("manager_id", sa.Integer(), nullable=True))
    batch_op.create_index(INDEX, ["manager_id"], unique=False)
    batch_op.create_foreign_key(FK, "users", ["manager_id"], ["id"], ondelete="SET NULL")


def _drop_manager_id(batch_op) -> None:
    batch_op.drop_constraint(FK, type_="foreignkey")
    batch_op.drop_index(INDEX)
    batch_op.drop_column("manager_id")


def _rebuild_clients_on_sqlite(change) -> None:
    """SQLite adds a foreign key only by building the table again: SQLite's
    own procedure (https://sqlite.org/lang_altertable.html#otheralter), as a
    transaction of its own, because

    - with foreign keys on, dropping the old `clients` would first delete
      its rows, and with them (ON DELETE CASCADE) every contact, identity
      and event; the pragma is only changed outside a transaction;
    - the search index's FTS5 tables, written earlier in the same
      transaction (0011 on a database with data), lock the table against
      DROP TABLE;
    - the old table's triggers (the search index's) go with it, and are
      made again; its FTS5 tables keep their rows, which the ids still name.
    """
    with op.get_context().autocommit_block():
        op.execute("PRAGMA foreign_keys=OFF")
        try:
            op.execute("BEGIN")
            with op.batch_alter_table("clients", recreate="always") as batch_op:
                change(batch_op)
            for statement in create_statements("sqlite"):
                if statement.startswith("CREATE TRIGGER") and " ON clients" in statement:
                    op.execute(statement)
            broken = op.get_bind().exec_driver_sql("PRAGMA foreign_key_check").all()
            if broken:
                raise RuntimeError(f"foreign keys broken by rebuilding clients: {broken[:5]}")
            op.execute("COMMIT")
        except BaseException:
            op.execute("ROLLBACK")
            raise
        finally:
            op.execute("PRAGMA foreign_keys=ON")
