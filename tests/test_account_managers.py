"""The account manager is a user account: names given as text find their
account (by address or name, case and spaces aside) or wait for an admin
at /admin/managers; the client form and API choose from active accounts;
"my clients" is the signed-in account's; briefings go to the manager's
account, at the time its time zone and working days say; the digest comes
on an executive's working day; /api/v1/me/mail reads and sets which e-mail
one receives."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from crm.accounts.mail import preferences
from crm.accounts.models import AuditEntry
from crm.clients.managers import needing_manager
from crm.extensions import db
from crm.meetings.operations import create_meeting
from crm.models import Client
from crm.models.clients import match_account
from tests.accounts import make_user, signed_in_client, token_for, with_token
from tests.factories import make_client
from tests.test_digest import _portfolio


def _entries(action: str) -> list[AuditEntry]:
    return list(
        db.session.scalars(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        )
    )


def test_a_name_finds_its_one_active_account_by_address_or_name(app):
    ana = make_user("manager", name="Ana Lima", email="ana@ourmsp.example")
    make_user("manager", name="Sam Reed", email="sam1@ourmsp.example")
    make_user("manager", name="Sam  Reed", email="sam2@ourmsp.example")
    make_user("manager", name="Old Hand", email="old@ourmsp.example", active=False)
    assert match_account(db.session, "  ana   LIMA ") == ana
    assert match_account(db.session, "ANA@OurMSP.example") == ana
    assert match_account(db.session, "Sam Reed") is None  # two accounts: ambiguous
    assert match_account(db.session, "Old Hand") is None  # deactivated
    assert match_account(db.session, "") is None


def test_an_import_naming_a_manager_finds_the_account_or_keeps_the_name(app):
    """The connectors set `account_manager` as text: the client's manager is
    the account it names, else the name waits, unmatched."""
    ana = make_user("manager", name="Ana Lima", email="ana@ourmsp.example")
    acme = make_client("acme")
    acme.account_manager = "ana lima"
    bolt = make_client("bolt")
    bolt.account_manager = "Nobody Known"
    db.session.commit()
    assert (acme.manager, acme.unmatched_manager, acme.account_manager) == (ana, None, "Ana Lima")
    assert (bolt.manager, bolt.account_manager) == (None, "Nobody Known")
    assert [client.slug for client in needing_manager(db.session)] == ["bolt"]
    # The name is SQL too: the reports select and filter by it.
    names = db.session.execute(select(Client.slug, Client.account_manager).order_by(Client.slug))
    assert names.all() == [("acme", "Ana Lima"), ("bolt", "Nobody Known")]


def test_the_admin_assigns_an_account_to_an_unmatched_name_audited(app):
    ana = make_user("manager", name="Ana Lima", email="ana@ourmsp.example")
    make_client("acme", name="Acme", account_manager="A. Lima")
    gone = make_user("manager", name="Gone Person", email="gone@ourmsp.example")
    cedar = make_client("cedar", name="Cedar")
    cedar.manager = gone
    gone.active = False
    db.session.commit()
    admin = signed_in_client(app, make_user("admin"))

    page = admin.get("/admin/managers").get_data(as_text=True)
    assert "“A. Lima”" in page and 'Gone Person <span class="muted">(deactivated)' in page
    assert f'<option value="{ana.id}">Ana Lima (ana@ourmsp.example)</option>' in page
    assert f'<option value="{gone.id}">' not in page

    refused = admin.post("/admin/managers/acme", data={"account_manager_id": str(gone.id)})
    assert refused.status_code == 422 and "no active account" in refused.get_data(as_text=True)
    answer = admin.post("/admin/managers/acme", data={"account_manager_id": str(ana.id)})
    assert answer.status_code == 302
    acme = db.session.scalar(select(Client).where(Client.slug == "acme"))
    assert (acme.manager, acme.unmatched_manager) == (ana, None)
    [entry] = _entries("client.manager")
    assert (entry.target, entry.detail) == (
        "acme",
        {"from": None, "to": "ana@ourmsp.example", "via": "page", "unmatched": "A. Lima"},
    )
    assert [client.slug for client in needing_manager(db.session)] == ["cedar"]
    assert (
        admin.post("/admin/managers/nope", data={"account_manager_id": ana.id}).status_code == 404
    )


def test_the_admin_api_lists_and_assigns(app):
    ana = make_user("manager", name="Ana Lima", email="ana@ourmsp.example")
    make_client("acme", name="Acme", tier="key", account_manager="A. Lima")
    api = with_token(app.test_client(), token_for(make_user("admin")))
    listed = api.get("/api/v1/managers/unmatched")
    assert listed.status_code == 200
    assert listed.json == [
        {
            "slug": "acme",
            "name": "Acme",
            "tier": "key",
            "unmatched_manager": "A. Lima",
            "account_manager_id": None,
            "account_manager_email": None,
        }
    ]
    bad = api.put("/api/v1/managers/unmatched/acme", json={"account_manager_id": 99999})
    assert bad.status_code == 422
    assert api.put("/api/v1/managers/unmatched/acme", json={}).status_code == 422
    done = api.put("/api/v1/managers/unmatched/acme", json={"account_manager_id": ana.id})
    assert done.status_code == 200 and done.json["account_manager_email"] == "ana@ourmsp.example"
    assert api.get("/api/v1/managers/unmatched").json == []
    assert _entries("client.manager")[0].detail["via"] == "api"
    # Managers edit clients, admins assign managers: each only their own door.
    manager = with_token(app.test_client(), token_for(make_user("manager")))
    assert manager.get("/api/v1/managers/unmatched").status_code == 403


def test_the_client_api_chooses_a_manager_among_active_accounts(client):
    ana = make_user("manager", name="Ana Lima", email="ana@ourmsp.example")
    gone = make_user("manager", name="Gone", email="gone@ourmsp.example", active=False)
    made = client.post("/api/v1/clients", json={"name": "Acme", "account_manager_id": ana.id})
    assert made.status_code == 201, made.json
    assert (made.json["account_manager"], made.json["account_manager_email"]) == (
        "Ana Lima",
        "ana@ourmsp.example",
    )
    for wrong in ({"account_manager_id": gone.id}, {"account_manager": "Someone Else"}):
        refused = client.patch("/api/v1/clients/acme", json=wrong)
        assert refused.status_code == 422, refused.json
    by_address = client.patch(
        "/api/v1/clients/acme", json={"account_manager": "ANA@ourmsp.example"}
    )
    assert by_address.json["account_manager_id"] == ana.id
    cleared = client.patch("/api/v1/clients/acme", json={"account_manager_id": None})
    assert cleared.json["account_manager"] is None
    assert [entry.detail["to"] for entry in _entries("client.manager")] == [
        "ana@ourmsp.example",
        None,
    ]


def test_the_edit_form_offers_active_accounts_and_keeps_an_unmatched_name(client):
    ana = make_user("manager", name="Ana Lima", email="ana@ourmsp.example")
    make_user("manager", name="Gone", email="gone@ourmsp.example", active=False)
    make_client("acme", name="Acme", account_manager="A. Lima")
    page = client.get("/clients/acme/edit").get_data(as_text=True)
    assert f'<option value="{ana.id}" >Ana Lima (ana@ourmsp.example)</option>' in page
    assert "gone@ourmsp.example" not in page
    assert "Given as “A. Lima”" in page
    form = {"name": "Acme", "tier": "new", "status": "active", "timezone": "UTC"}
    kept = client.post("/clients/acme/edit", data=form | {"account_manager_id": ""})
    assert kept.status_code == 302
    acme = db.session.scalar(select(Client).where(Client.slug == "acme"))
    assert acme.account_manager == "A. Lima"  # "nobody" never erases the name given
    chosen = client.post("/clients/acme/edit", data=form | {"account_manager_id": str(ana.id)})
    assert chosen.status_code == 302
    db.session.refresh(acme)
    assert (acme.manager, acme.unmatched_manager) == (ana, None)
    wrong = client.post("/clients/acme/edit", data=form | {"account_manager_id": "12x"})
    assert wrong.status_code == 422


def test_my_clients_are_the_signed_in_accounts(app):
    ana = make_user("manager", name="Ana Lima", email="ana@ourmsp.example")
    mark = make_user("manager", name="Mark Hughes", email="mark@ourmsp.example")
    for slug, manager in (("acme", ana), ("bolt", mark), ("cedar", ana), ("dune", None)):
        made = make_client(slug)
        made.manager = manager
    db.session.commit()
    http = signed_in_client(app, ana)
    mine = http.get("/api/v1/clients?manager=me").json
    assert [row["slug"] for row in mine["items"]] == ["acme", "cedar"]
    marks = http.get(f"/api/v1/clients?manager={mark.id}").json
    assert [row["slug"] for row in marks["items"]] == ["bolt"]
    assert http.get("/api/v1/clients?manager=someone").status_code == 422
    page = http.get("/clients?manager=me").get_data(as_text=True)
    assert '<option value="me" selected>My clients</option>' in page
    assert f'<option value="{mark.id}" >Mark Hughes</option>' in page
    assert "/clients/acme" in page and "/clients/bolt" not in page
    # /account says how many are one's own, and leads to them.
    account = http.get("/account").get_data(as_text=True)
    assert '<dt>Clients you manage</dt><dd><a href="/clients?manager=me">2</a></dd>' in account
    unmanaged = make_user("manager", name="New Hire", email="new@ourmsp.example")
    fresh = signed_in_client(app, unmanaged).get("/account").get_data(as_text=True)
    assert "<dt>Clients you manage</dt><dd>none</dd>" in fresh


@pytest.fixture
def meeting_of():
    def made(client: Client, day: int = 4, hour: int = 9):
        meeting = create_meeting(
            db.session,
            client,
            {"kind": "qbr", "starts_at": datetime(2030, 6, day, hour, 0, tzinfo=UTC)},
            actor="someone@ourmsp.example",
        )
        db.session.commit()
        return meeting

    return made


def test_the_briefing_goes_to_the_managers_account_on_its_clock(runner, smtp_server, meeting_of):
    """Ana works Sunday to Thursday in Dubai: her Monday meeting's briefing is
    due Sunday 09:00 Dubai (05:00 UTC), at her account's address."""
    ana = make_user(
        "manager",
        name="Ana Lima",
        email="ana@ourmsp.example",
        timezone="Asia/Dubai",
        working_days="Sun-Thu",
    )
    acme = make_client("acme", name="Acme", timezone="Asia/Dubai")
    acme.manager = ana
    meeting_of(acme, day=3)  # Monday 3 June 2030
    early = runner.invoke(args=["deliver", "--due", "--at", "2030-06-02T04:59:00+00:00"])
    assert early.output == ""
    sent = runner.invoke(args=["deliver", "--due", "--at", "2030-06-02T05:00:00+00:00"])
    assert sent.output.startswith("sent: acme meeting") and "to ana@ourmsp.example" in sent.output
    [(recipients, _)] = smtp_server.messages
    assert recipients == ["ana@ourmsp.example"]


def test_a_deactivated_manager_receives_nothing_and_the_failure_shows(runner, meeting_of):
    gone = make_user("manager", name="Gone", email="gone@ourmsp.example", active=False)
    acme = make_client("acme")
    acme.manager = gone
    meeting_of(acme)
    output = runner.invoke(args=["deliver", "--due", "--at", "2030-06-03T09:00:00+00:00"]).output
    assert output.startswith("failed:") and "active account as its account manager" in output


def test_the_digest_comes_on_the_executives_working_day(runner, smtp_server):
    """The digest goes on Mondays; Eve works Tuesday to Saturday, so hers
    comes on Tuesday at 08:00 in her time zone."""
    _portfolio(datetime(2030, 6, 4, 8, 0, tzinfo=UTC))
    make_user("executive", email="eve@ourmsp.example", timezone="UTC", working_days="Tue-Sat")
    monday = runner.invoke(args=["deliver", "--due", "--at", "2030-06-03T08:00:00+00:00"])
    assert monday.output == ""
    tuesday = runner.invoke(args=["deliver", "--due", "--at", "2030-06-04T08:00:00+00:00"])
    assert tuesday.output == "sent: digest of week 2030-06-04 to eve@ourmsp.example\n"
    assert [recipients for recipients, _ in smtp_server.messages] == [["eve@ourmsp.example"]]


def test_the_mail_preferences_api_reads_and_sets_them_audited(app):
    rita = make_user("staff", email="rita@ourmsp.example")
    api = with_token(app.test_client(), token_for(rita))
    assert api.get("/api/v1/me/mail").json == {"briefing": True, "digest": True}
    changed = api.patch("/api/v1/me/mail", json={"digest": False})
    assert changed.status_code == 200 and changed.json == {"briefing": True, "digest": False}
    assert preferences(db.session, "rita@ourmsp.example") == {"briefing": True, "digest": False}
    [entry] = _entries("user.mail")
    assert (entry.actor_email, entry.target, entry.detail["via"]) == (
        "rita@ourmsp.example",
        "rita@ourmsp.example",
        "api",
    )
    for bad in ({"weekly": True}, {"digest": "sometimes"}, {"digest": 0}, ["digest"]):
        assert api.patch("/api/v1/me/mail", json=bad).status_code == 422
    assert api.patch("/api/v1/me/mail", json={}).status_code == 422
    assert len(_entries("user.mail")) == 1
    assert app.test_client().get("/api/v1/me/mail").status_code == 401


def test_the_openapi_document_describes_the_new_endpoints(client):
    paths = client.get("/api/openapi.json").json["paths"]
    assert {"get", "patch"} <= set(paths["/api/v1/me/mail"])
    assert "get" in paths["/api/v1/managers/unmatched"]
    assert "put" in paths["/api/v1/managers/unmatched/{slug}"]
