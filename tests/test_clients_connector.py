"""The clients file: master data with groups, contacts and identities."""

from sqlalchemy import select

from crm.models import Client, Event, Group, InboxRecord
from tests.factories import event, ndjson
from tests.helpers import ingest_file

HEADER = (
    "slug,name,tier,industry,country,language,timezone,account_manager,customer_since,"
    "groups,contacts,identities\n"
)
ACME = (
    "acme-dental,Acme Dental,key,Healthcare,pt,pt,Europe/Lisbon,Maria Costa,2021-03-01,"
    '"industry:Healthcare; product:Backup","Ana Lima | ana@acme.example | +351 21 000 | IT lead",'
    '"account:AC-1; domain:acme.example"\n'
)


ingest = ingest_file


def test_clients_are_created_then_left_alone_when_unchanged(runner, session, tmp_path):
    path = tmp_path / "clients.csv"
    path.write_text(HEADER + ACME)
    assert ingest(runner, "clients", path)["accepted"] == 1
    acme = session.scalars(select(Client)).one()
    assert (acme.tier, acme.country, acme.timezone) == ("key", "PT", "Europe/Lisbon")
    assert [(g.kind, g.name) for g in acme.groups] == [
        ("industry", "Healthcare"),
        ("product", "Backup"),
    ]
    assert [(c.name, c.email, c.role) for c in acme.contacts] == [
        ("Ana Lima", "ana@acme.example", "IT lead")
    ]
    assert {(i.system, i.external_key) for i in acme.identities} == {
        ("account", "AC-1"),
        ("domain", "acme.example"),
    }
    again = ingest(runner, "clients", path)
    assert (again["accepted"], again["duplicate"]) == (0, 1)


def test_bad_client_rows_name_the_field(runner, session, tmp_path):
    path = tmp_path / "clients.csv"
    path.write_text(
        HEADER
        + "good,Good Co,standard,,,,UTC,,,,,\n"
        + "bad-tier,Bad Tier,vip,,,,UTC,,,,,\n"
        + "bad-zone,Bad Zone,new,,,,Mars/Olympus,,,,,\n"
        + "Bad Slug!,Bad Slug,new,,,,UTC,,,,,\n"
        + 'bad-ident,Bad Ident,new,,,,UTC,,,,,"stripe"\n'
        + "long,Long Industry,new,"
        + "x" * 81
        + ",,,UTC,,,,,\n"
    )
    summary = ingest(runner, "clients", path)
    assert (summary["accepted"], summary["rejected"]) == (1, 5)
    fields = dict(session.execute(select(InboxRecord.locator, InboxRecord.field)).all())
    assert fields == {
        "line 3": "tier",
        "line 4": "timezone",
        "line 5": "slug",
        "line 6": "identities",
        "line 7": "industry",
    }


def test_an_identity_already_owned_elsewhere_is_refused(runner, session, tmp_path):
    path = tmp_path / "clients.csv"
    path.write_text(HEADER + ACME + ACME.replace("acme-dental,Acme Dental", "other,Other Co"))
    summary = ingest(runner, "clients", path)
    assert (summary["accepted"], summary["rejected"]) == (1, 1)
    assert session.scalars(select(Client.slug)).all() == ["acme-dental"]
    reason = session.scalars(select(InboxRecord.reason)).one()
    assert "already belongs to acme-dental" in reason


def test_importing_a_client_replays_records_that_were_waiting_for_it(runner, session, tmp_path):
    waiting = [event("t1", "ticket.opened", 0, account="AC-1", thread="T1")]
    assert ingest(runner, "tickets", ndjson(tmp_path / "t.ndjson", waiting))["unmatched"] == 1
    path = tmp_path / "clients.csv"
    path.write_text(HEADER + ACME)
    ingest(runner, "clients", path)
    assert session.scalars(select(Event.external_id)).all() == ["t1"]
    assert session.scalars(
        select(InboxRecord.status).where(InboxRecord.connector == "tickets")
    ).all() == ["replayed"]
    assert session.scalar(select(Group.name).where(Group.kind == "product")) == "Backup"
