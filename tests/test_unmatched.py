"""The unmatched queue: grouped by hint, suggested clients, mapping from the page."""

import re

from sqlalchemy import func, select

from connectors import review
from crm.models import Event, Identity, InboxHint, InboxRecord
from crm.signals import identities_mapped
from tests.factories import event, make_client, ndjson
from tests.helpers import ingest_file


def _waiting(runner, tmp_path, records, connector="billing"):
    summary = ingest_file(runner, connector, ndjson(tmp_path / f"{connector}.ndjson", records))
    assert summary["unmatched"] == len(records)
    return summary


def _group_html(page: str, label: str) -> str:
    """The <article> of one hint group on the queue page."""
    start = page.index(f"<h2>{label}</h2>")
    return page[start : page.index("</article>", start)]


def _statuses(session) -> dict[str, str]:
    return dict(session.execute(select(InboxRecord.natural_key, InboxRecord.status)).all())


def test_waiting_records_are_grouped_by_hint_with_counts_and_suggestions(runner, session, tmp_path):
    make_client("acme", name="Acme Dental", emails=["ana@acme-dental.example"])
    make_client("zenith", name="Zenith Logistics")
    _waiting(
        runner,
        tmp_path,
        [
            event("i1", "invoice.issued", 0, account="ACC-0042", thread="INV-1"),
            event("i2", "invoice.issued", 1, account="ACC-0042", thread="INV-2"),
            event("i3", "invoice.issued", 2, account="ACC-0042", thread="INV-3"),
            event("i4", "invoice.issued", 3, email="bob@acme-dental.example", thread="INV-4"),
            event("i5", "invoice.issued", 4, email="Bob@acme-dental.example", thread="INV-5"),
        ],
    )

    groups = review.unmatched_groups(session)
    assert [(g.label, g.records) for g in groups.items] == [
        ("account ACC-0042", 3),
        ("email domain acme-dental.example", 2),
        ("email bob@acme-dental.example", 2),
    ]
    assert review.waiting_records(session) == 5  # each record once
    domain = groups.items[1]
    assert domain.connectors == ["billing"]
    assert domain.first_seen <= domain.last_seen
    assert domain.sample.record["id"] == "i5"
    best = domain.suggestions[0]
    assert best.slug == "acme" and best.score >= 0.95
    assert "same email domain acme-dental.example (contact ana@acme-dental.example)" in (
        best.reasons
    )
    assert [s.slug for s in groups.items[0].suggestions] == []  # nothing resembles ACC-0042


def test_a_name_in_the_record_suggests_the_client_it_resembles(runner, session, tmp_path):
    make_client("fischer-bau", name="Fischer Bau")
    make_client("fischler", name="Fischler Bakery")
    make_client("other", name="Northwind Traders")
    _waiting(
        runner,
        tmp_path,
        [
            event("i1", "invoice.issued", 0, account="X-9", customer_name="Fischer-Bau GmbH"),
            event("p1", "payment.received", 1, account="X-9"),  # names no customer
        ],
    )
    (group,) = review.unmatched_groups(session).items
    assert group.sample.record["id"] == "p1"
    suggested = [s.slug for s in group.suggestions]
    assert suggested[0] == "fischer-bau"
    assert "other" not in suggested
    assert any("customer_name" in reason for reason in group.suggestions[0].reasons)
    assert group.suggestions[0].score > group.suggestions[-1].score or len(suggested) == 1


def test_the_page_shows_each_group_with_its_suggestion_preselected(client, runner, tmp_path):
    make_client("acme", name="Acme Dental", emails=["ana@acme-dental.example"])
    _waiting(runner, tmp_path, [event("i1", "invoice.issued", 0, email="bob@acme-dental.example")])
    page = client.get("/unmatched").get_data(as_text=True)
    assert "1 record waits for a client, under 2 identity hints." in " ".join(page.split())
    group = _group_html(page, "email domain acme-dental.example")
    assert "1 record" in group
    assert re.search(r'value="acme"\s+checked', group)
    assert "Acme Dental" in group and "from billing" in group


def test_mapping_a_hint_from_the_page_replays_its_records(client, runner, session, tmp_path):
    acme = make_client("acme", name="Acme Dental", emails=["ana@acme-dental.example"])
    _waiting(
        runner,
        tmp_path,
        [
            event("t1", "ticket.opened", 0, email="bob@acme-dental.example", thread="T-1"),
            event("t2", "ticket.resolved", 5, email="eve@acme-dental.example", thread="T-1"),
            event("t3", "ticket.opened", 6, account="SOMEONE-ELSE", thread="T-9"),
        ],
        connector="tickets",
    )
    response = client.post(
        "/unmatched/map",
        data={
            "system": "domain",
            "key": "acme-dental.example",
            "client": "acme",
            "back": "/unmatched?page=1",
        },
    )
    assert response.status_code == 302 and response.location == "/unmatched?page=1"
    page = client.get(response.location).get_data(as_text=True)
    assert "2 records replayed onto Acme Dental." in page
    assert "email domain acme-dental.example" not in page
    assert "bob@acme-dental.example" not in page  # its other hint went with it
    assert "account SOMEONE-ELSE" in page

    events = session.scalars(select(Event).order_by(Event.external_id)).all()
    assert [(e.external_id, e.client_id) for e in events] == [("t1", acme.id), ("t2", acme.id)]
    assert _statuses(session) == {
        "tickets:t1": "replayed",
        "tickets:t2": "replayed",
        "tickets:t3": "unmatched",
    }


def test_a_client_can_be_typed_by_name_and_an_unknown_one_is_refused(
    client, runner, session, tmp_path
):
    make_client("acme", name="Acme Dental")
    make_client("acme-labs", name="Acme Labs")
    _waiting(runner, tmp_path, [event("i1", "invoice.issued", 0, account="ACC-1")])
    form = {"system": "account", "key": "ACC-1", "client": "", "other_client": "Nobody Ltd"}
    response = client.post("/unmatched/map", data=form, follow_redirects=True)
    assert "no client is called or has the slug &#39;Nobody Ltd&#39;" in response.get_data(
        as_text=True
    )
    form["other_client"] = "ACM"
    response = client.post("/unmatched/map", data=form, follow_redirects=True)
    assert "several clients match &#39;ACM&#39; (acme, acme-labs); give the slug" in (
        response.get_data(as_text=True)
    )
    assert _statuses(session) == {"billing:i1": "unmatched"}

    form["other_client"] = "acme dental"
    response = client.post("/unmatched/map", data=form, follow_redirects=True)
    assert "1 record replayed onto Acme Dental." in response.get_data(as_text=True)
    assert _statuses(session) == {"billing:i1": "replayed"}


def test_mapping_to_a_client_when_another_owns_the_identity_changes_nothing(
    client, runner, session, tmp_path
):
    acme = make_client("acme", name="Acme Dental")
    beta = make_client("beta", name="Beta Bakery")
    _waiting(runner, tmp_path, [event("i1", "invoice.issued", 0, account="ACC-7")])
    # Mapped elsewhere while the record waited (no replay yet).
    session.add(Identity(system="account", external_key="ACC-7", client=beta))
    session.commit()

    response = client.post(
        "/unmatched/map",
        data={"system": "account", "key": "ACC-7", "client": "acme"},
        follow_redirects=True,
    )
    assert "Nothing changed: identity account ACC-7 already belongs to beta." in (
        response.get_data(as_text=True)
    )
    assert session.scalar(select(func.count()).select_from(Event)) == 0
    assert _statuses(session) == {"billing:i1": "unmatched"}
    owners = session.scalars(select(Identity.client_id).where(Identity.external_key == "ACC-7"))
    assert owners.all() == [beta.id] and beta.id != acme.id


def test_a_form_without_a_client_is_refused_clearly(client):
    response = client.post(
        "/unmatched/map", data={"system": "account", "key": "A"}, follow_redirects=True
    )
    assert "client: choose a client to map it to" in response.get_data(as_text=True)


def test_the_back_link_never_leaves_the_queue(client):
    response = client.post(
        "/unmatched/map", data={"system": "account", "key": "A", "back": "https://evil.example/"}
    )
    assert response.location == "/unmatched"


def test_a_mapping_announced_by_crm_replays_the_waiting_records(app, runner, session, tmp_path):
    acme = make_client("acme")
    _waiting(runner, tmp_path, [event("i1", "invoice.issued", 0, account="ACC-1")])
    session.add(Identity(system="account", external_key="ACC-1", client=acme))
    session.flush()
    results = identities_mapped.send(app, pairs=[("account", "ACC-1")], started_by="client form")
    session.commit()
    runs = [run for receiver, value in results if value for run in value]
    assert [(run.accepted, run.started_by) for run in runs] == [(1, "client form")]
    assert session.scalars(select(Event.client_id)).all() == [acme.id]


def test_an_edited_record_waits_under_the_identity_it_names_now(client, runner, session, tmp_path):
    _waiting(runner, tmp_path, [event("i1", "invoice.issued", 0, account="TYPO-1")])
    row = session.scalars(select(InboxRecord)).one()
    edited = dict(row.record, account="ACC-1")
    response = client.post(f"/api/v1/inbox/{row.id}/replay", json={"record": edited})
    assert response.json["outcome"] == "unmatched"
    hints = session.execute(select(InboxHint.system, InboxHint.key)).all()
    assert hints == [("account", "ACC-1")]


def test_the_queue_pages_through_groups(runner, session, tmp_path):
    _waiting(
        runner,
        tmp_path,
        [event(f"i{n}", "invoice.issued", n, account=f"ACC-{n}") for n in range(3)],
    )
    first = review.unmatched_groups(session, page=1, per_page=2)
    second = review.unmatched_groups(session, page=2, per_page=2)
    assert (first.total, first.pages) == (3, 2)
    beyond = review.unmatched_groups(session, page=3, per_page=2)
    assert (beyond.items, beyond.total) == ([], 3)
    keys = [g.key for g in first.items + second.items]
    assert sorted(keys) == ["ACC-0", "ACC-1", "ACC-2"]
    only = review.unmatched_groups(session, search="acc-1")
    assert [g.key for g in only.items] == ["ACC-1"]


def test_a_public_mail_domain_is_never_mapped_to_one_client(client, runner, session, tmp_path):
    make_client("acme", name="Acme Dental", emails=["acme.dental@gmail.com"])
    _waiting(runner, tmp_path, [event("i1", "invoice.issued", 0, email="someone@gmail.com")])
    page = client.get("/unmatched").get_data(as_text=True)
    group = _group_html(page, "email domain gmail.com")
    assert "is a public mail service" in group and "<form" not in group

    form = {"system": "domain", "key": "Gmail.com", "client": "acme"}
    response = client.post("/unmatched/map", data=form, follow_redirects=True)
    assert "Nothing changed: gmail.com is a public mail service" in response.get_data(as_text=True)
    api = client.post("/api/v1/identities", json=form)
    assert api.status_code == 422 and api.json["field"] == "key"
    assert session.scalar(select(func.count()).select_from(Identity)) == 0
    assert _statuses(session) == {"billing:i1": "unmatched"}
