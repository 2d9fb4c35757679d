"""What many tests ask of the app: ingest a file, read the inbox and threads."""

import json

from sqlalchemy import select

from crm.models import Entity, InboxRecord


def ingest_file(runner, connector: str, path) -> dict:
    """`flask ingest CONNECTOR PATH --json`, which must not fail."""
    result = runner.invoke(args=["ingest", connector, str(path), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def inbox_by_locator(session) -> dict[str, InboxRecord]:
    return {row.locator: row for row in session.scalars(select(InboxRecord))}


def entity_states(session) -> list[tuple]:
    """Every thread's whole derived state, in a stable order, for comparing
    one ingest against another."""
    return session.execute(
        select(
            Entity.type,
            Entity.key,
            Entity.status,
            Entity.title,
            Entity.opened_at,
            Entity.closed_at,
            Entity.due_at,
            Entity.amount,
            Entity.currency,
            Entity.priority,
            Entity.category,
            Entity.assignee,
            Entity.sla_due_at,
            Entity.event_count,
        ).order_by(Entity.client_id, Entity.type, Entity.key)
    ).all()
