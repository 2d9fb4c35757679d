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


def upgrade():
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("manager_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_clients_manager_id"), ["manager_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_clients_manager_id_users"),
            "users",
            ["manager_id"],
            ["id"],
            ondelete="SET NULL",
        )
    connection = op.get_bind()
    for text, user_id in _matches(connection).items():
        connection.execute(
            sa.text(
                "UPDATE clients SET manager_id = :user_id, account_manager = NULL "
                "WHERE account_manager = :text"
            ),
            {"user_id": user_id, "text": text},
        )


def downgrade():
    op.get_bind().execute(
        sa.text(
            "UPDATE clients SET account_manager = "
            "(SELECT substr(users.name, 1, 120) FROM users WHERE users.id = clients.manager_id) "
            "WHERE manager_id IS NOT NULL"
        )
    )
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_clients_manager_id_users"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_clients_manager_id"))
        batch_op.drop_column("manager_id")
