"""Names that only look like the query (a typo) are offered when nothing of
any kind asked for matches every word, and not otherwise: a query that
finds events, say a deal's name, pays for no trigram look-up."""

from crm.extensions import db
from crm.search.operations import search
from tests.factories import make_client, stored_event


def kinds_found(typed: str, *kinds: str) -> list[tuple[str, str]]:
    return [(hit.kind, hit.title) for hit in search(db.session, typed, kinds).hits]


def test_a_typo_is_offered_only_when_nothing_matches(runner):
    client = make_client("collins-facilities", name="Collins Facilities")
    db.session.commit()
    assert kinds_found("Colins") == [("client", "Collins Facilities")]
    stored_event(client, "note", title="Colins Managed Backup")
    db.session.commit()
    assert kinds_found("Colins") == [("event", "Colins Managed Backup")]
    assert kinds_found("Colins", "client") == [("client", "Collins Facilities")]
