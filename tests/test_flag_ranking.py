"""crm.flags.ranking.most_severe, which reads the most severe few flags down
indexes severity by severity, names the same threads in the same order as
ranking every flagged thread with crm.flags.rank, on generated thread states
of several clients (ties of moment and severity included: many share AT's
edges), for a limit below, at and above the number flagged, read a few
rows at a time."""

import hypothesis.strategies as st
from hypothesis import given, settings
from sqlalchemy import delete, insert, select

from crm import flags as rules
from crm.flags import ranking
from crm.flags.ranking import most_severe
from crm.models import Client, Entity
from tests.factories import make_client
from tests.test_flag_rules import AT, SETTINGS, thread_states


def test_the_most_severe_few_are_the_head_of_ranking_them_all(session, monkeypatch):
    # a few rows a batch, so that the walks go on from one batch to the next
    monkeypatch.setattr(ranking, "BATCH", 3)
    # slugs out of id order, so that the slug's tie-break is seen
    clients = [make_client(slug) for slug in ("m-client", "a-client", "z-client")]
    ids = [client.id for client in clients]
    slugs = {client.id: client.slug for client in clients}
    inactive = make_client("b-client", status="churned")
    limits_seen: set[str] = set()

    @settings(max_examples=60, deadline=None, derandomize=True, database=None)
    @given(
        st.lists(
            st.tuples(st.sampled_from([*ids, inactive.id]), thread_states()),
            min_size=1,
            max_size=40,
        )
    )
    def agree(owned):
        rows = [
            {"client_id": client_id, "key": f"K{number % 7}-{number}", "event_count": 1} | state
            for number, (client_id, state) in enumerate(owned)
        ]
        session.execute(insert(Entity), rows)
        try:
            stored = session.scalars(
                select(Entity)
                .where(Entity.client_id.in_(ids))
                .execution_options(populate_existing=True)
            ).all()
            flagged = [(rules.flag_of(e, AT, SETTINGS), e) for e in stored]
            everything = [
                e.id
                for _, e in sorted(
                    ((flag, e) for flag, e in flagged if flag),
                    key=lambda pair: (rules.rank(pair[0]), slugs[pair[1].client_id], pair[1].key),
                )
            ]
            for limit in (1, 3, 8, len(everything), len(everything) + 2):
                if limit < 1:
                    continue
                found = most_severe(session, AT, SETTINGS, limit, Client.status == "active")
                assert found == everything[:limit], limit
                limits_seen.add("short" if limit < len(everything) else "all")
        finally:
            session.execute(delete(Entity).where(Entity.client_id.in_([*ids, inactive.id])))

    agree()
    assert limits_seen == {"short", "all"}
