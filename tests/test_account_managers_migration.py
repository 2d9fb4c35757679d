"""Migration 0019 matches the free-text account managers to user accounts
(by address or display name, case and spaces aside, active accounts only,
never an ambiguous name), leaves the rest listed for an admin, and
downgrading writes each assigned manager's name back into the text."""

from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from crm.clients.managers import needing_manager
from crm.extensions import db

USERS = (
    (1, "ana@ourmsp.example", "Ana Lima", True),
    (2, "sam1@ourmsp.example", "Sam Reed", True),
    (3, "sam2@ourmsp.example", "sam reed", True),
    (4, "old@ourmsp.example", "Old Hand", False),
    (5, "mark@ourmsp.example", "Mark Hughes", True),
)
# slug -> the manager as typed before 0019
CLIENTS = {
    "acme": "  ana   LIMA ",
    "bolt": "Mark@OurMSP.example",
    "cedar": "Sam Reed",
    "dune": "Old Hand",
    "elm": "Nobody Known",
    "fig": None,
    "gale": "ana lima",
}


def _search_triggers(connection) -> list[str]:
    """SQLite: the search index's triggers on clients (crm.search.index)."""
    if connection.dialect.name != "sqlite":
        return []
    return (
        connection.execute(
            text("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'clients'")
        )
        .scalars()
        .all()
    )


def _contacts(connection) -> list:
    query = (
        "SELECT clients.slug, contacts.name FROM contacts JOIN clients ON clients.id = client_id"
    )
    return [tuple(row) for row in connection.execute(text(query))]


def _rows(connection) -> dict:
    return dict(
        connection.execute(text("SELECT slug, account_manager FROM clients ORDER BY slug")).all()
    )


def test_0019_matches_names_to_accounts_and_lists_the_rest(empty_database_app):
    upgrade(revision="0018")
    with db.engine.begin() as connection:
        for user_id, email, name, active in USERS:
            connection.execute(
                text(
                    "INSERT INTO users (id, email, name, active, session_version, created_at) "
                    "VALUES (:id, :email, :name, :active, 1, CURRENT_TIMESTAMP)"
                ),
                {"id": user_id, "email": email, "name": name, "active": active},
            )
        for slug, manager in CLIENTS.items():
            connection.execute(
                text(
                    "INSERT INTO clients (slug, name, tier, timezone, status, account_manager, "
                    "created_at) VALUES (:slug, :slug, 'key', 'UTC', 'active', :manager, "
                    "CURRENT_TIMESTAMP)"
                ),
                {"slug": slug, "manager": manager},
            )
        # SQLite builds `clients` again: its contacts (ON DELETE CASCADE) must stay.
        connection.execute(
            text(
                "INSERT INTO contacts (client_id, name, email) "
                "SELECT id, 'Ruth Okafor', 'ruth@acme.example' FROM clients WHERE slug = 'acme'"
            )
        )

    with db.engine.connect() as connection:
        triggers = sorted(_search_triggers(connection))
    assert triggers or db.engine.dialect.name != "sqlite"

    upgrade(revision="0019")
    with db.engine.connect() as connection:
        assert sorted(_search_triggers(connection)) == triggers
        assert _contacts(connection) == [("acme", "Ruth Okafor")]
        managers = dict(
            connection.execute(text("SELECT slug, manager_id FROM clients ORDER BY slug")).all()
        )
        texts = _rows(connection)
    assert managers == {
        "acme": 1, "bolt": 5, "cedar": None, "dune": None, "elm": None, "fig": None, "gale": 1
    }  # fmt: skip
    assert texts == {
        "acme": None,
        "bolt": None,
        "cedar": "Sam Reed",
        "dune": "Old Hand",
        "elm": "Nobody Known",
        "fig": None,
        "gale": None,
    }
    assert [client.slug for client in needing_manager(db.session)] == ["elm", "dune", "cedar"]
    db.session.remove()

    downgrade(revision="0018")
    db.engine.dispose()
    columns = {column["name"] for column in inspect(db.engine).get_columns("clients")}
    assert "manager_id" not in columns and "account_manager" in columns
    with db.engine.connect() as connection:
        assert sorted(_search_triggers(connection)) == triggers
        assert _contacts(connection) == [("acme", "Ruth Okafor")]
        assert _rows(connection) == {
            "acme": "Ana Lima",
            "bolt": "Mark Hughes",
            "cedar": "Sam Reed",
            "dune": "Old Hand",
            "elm": "Nobody Known",
            "fig": None,
            "gale": "Ana Lima",
        }
