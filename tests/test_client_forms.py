"""The create and edit pages: one form for a client, its groups, contacts and
identities; errors next to the field, values kept, and nothing saved."""

import contextlib
from datetime import date
from html.parser import HTMLParser

import pytest
from sqlalchemy import func, select

from crm.clients import members, operations
from crm.extensions import db
from crm.models import Client, Contact, Group, Identity
from crm.signals import identities_mapped
from tests.accounts import make_user
from tests.factories import make_client

NEW_CLIENT = {
    "name": "Clínica São José",
    "slug": "",
    "tier": "key",
    "status": "active",
    "account_manager_id": "",
    "industry": "Healthcare",
    "country": "pt",
    "language": "pt",
    "timezone": "Europe/Lisbon",
    "customer_since": "2024-02-01",
    "notes": "",
    "groups": "industry: Healthcare\nproduct: Backup\n\n",
    "contacts-0-name": "Marta Costa",
    "contacts-0-email": "Marta.Costa@SaoJose.example",
    "contacts-0-phone": "+351 21 555 0100",
    "contacts-0-role": "Office manager",
    "contacts-1-name": "",
    "contacts-1-email": "",
    "identities-0-system": "Stripe",
    "identities-0-key": "cus_9x",
    "identities-1-system": "domain",
    "identities-1-key": "SaoJose.example",
    "identities-2-system": "",
    "identities-2-key": "",
}


@contextlib.contextmanager
def mapped_hints():
    """The (system, key) pairs sent with identities_mapped while inside."""
    sent: list[tuple[str, str]] = []

    def receiver(app, pairs, started_by):
        sent.extend(pairs)
        assert started_by == "web"

    with identities_mapped.connected_to(receiver):
        yield sent


def _snapshot():
    """Everything a failed save must leave untouched."""
    return (
        db.session.execute(
            select(Client.slug, Client.name, Client.tier).order_by(Client.slug)
        ).all(),
        db.session.execute(
            select(Identity.system, Identity.external_key, Identity.client_id)
        ).all(),
        db.session.scalars(select(Contact.email).order_by(Contact.email)).all(),
        db.session.scalar(select(func.count()).select_from(Group)),
    )


def _flashes(client) -> list[str]:
    with client.session_transaction() as session:
        return [message for _, message in session.get("_flashes", [])]


class _FormFields(HTMLParser):
    """What a browser would post for the page's form, as it stands."""

    def __init__(self):
        super().__init__()
        self.fields: dict[str, str] = {}
        self._select = self._textarea = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "input" and name:
            if attrs.get("type") != "checkbox":
                self.fields[name] = attrs.get("value") or ""
            elif "checked" in attrs:
                self.fields[name] = attrs.get("value") or "on"
        elif tag == "select":
            self._select = name
        elif tag == "option" and self._select and "selected" in attrs:
            self._option = True
        elif tag == "textarea":
            self._textarea = name
            self.fields[name] = ""

    def handle_data(self, data):
        if self._textarea:
            self.fields[self._textarea] += data
        elif getattr(self, "_option", False):
            self.fields[self._select] = data.strip()
            self._option = False

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def _posted_as_is(page: str) -> dict[str, str]:
    parser = _FormFields()
    parser.feed(page)
    return parser.fields


def test_new_client_page_offers_an_empty_form(client):
    page = client.get("/clients/new").get_data(as_text=True)
    assert 'action="/clients/new"' in page
    assert 'name="contacts-1-email"' in page and 'name="identities-1-key"' in page
    assert '<option value="Europe/Lisbon">' in page


def test_create_a_client_with_groups_contacts_and_identities(client):
    make_client("other", groups=[])
    ana = make_user("manager", name="Ana Lima", email="ana@ourmsp.example")
    with mapped_hints() as sent:
        response = client.post("/clients/new", data=NEW_CLIENT | {"account_manager_id": ana.id})

    assert response.status_code == 302
    assert response.headers["Location"] == "/clients/clinica-sao-jose"
    assert _flashes(client) == ["Created Clínica São José."]
    saved = db.session.scalar(select(Client).where(Client.slug == "clinica-sao-jose"))
    assert (saved.tier, saved.country, saved.timezone) == ("key", "PT", "Europe/Lisbon")
    assert (saved.manager, saved.account_manager) == (ana, "Ana Lima")
    assert saved.customer_since.isoformat() == "2024-02-01"
    assert saved.notes is None
    assert [(g.kind, g.name) for g in saved.groups] == [
        ("industry", "Healthcare"),
        ("product", "Backup"),
    ]
    assert [(c.name, c.email, c.role) for c in saved.contacts] == [
        ("Marta Costa", "marta.costa@saojose.example", "Office manager")
    ]
    assert sorted((i.system, i.external_key) for i in saved.identities) == [
        ("domain", "saojose.example"),
        ("stripe", "cus_9x"),
    ]
    assert set(sent) == {
        ("touchline", "clinica-sao-jose"),
        ("stripe", "cus_9x"),
        ("domain", "saojose.example"),
        ("email", "marta.costa@saojose.example"),
    }


def test_groups_are_found_whatever_their_case(client):
    make_client("acme")
    existing = Group(kind="industry", name="Healthcare")
    db.session.add(existing)
    db.session.commit()
    client.post("/clients/new", data=NEW_CLIENT | {"groups": "Industry: healthcare"})
    saved = db.session.scalar(select(Client).where(Client.slug == "clinica-sao-jose"))
    assert [group.id for group in saved.groups] == [existing.id]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"tier": "gold"}, "tier", "Must be one of: new, standard, problem, key."),
        ({"timezone": "Europe/Lisbn"}, "timezone", "is not an IANA time zone"),
        ({"slug": "taken"}, "slug", "taken is already the slug of Taken Ltd"),
        ({"slug": "new"}, "slug", "is reserved"),
        ({"slug": "Bad Slug"}, "slug", "is not a slug"),
        ({"contacts-0-email": "marta@"}, "contacts-0-email", "Not a valid email address."),
        ({"contacts-1-email": "x@y.example"}, "contacts-1-name", "a contact needs a name"),
        ({"identities-1-key": "taken.example"}, "identities-1", "already belongs to taken"),
        ({"groups": "industry Dental"}, "groups", "line 1: 'industry Dental' is not kind: name"),
        ({"groups": "colour: red"}, "groups", "line 1: 'colour' is not a kind of group"),
        ({"name": " "}, "name", "A client needs a name."),
    ],
)
def test_bad_input_is_named_next_to_its_field_and_changes_nothing(client, changes, field, message):
    make_client("taken", name="Taken Ltd", identities=[("domain", "taken.example")])
    before = _snapshot()
    with mapped_hints() as sent:
        response = client.post("/clients/new", data=NEW_CLIENT | changes)
    page = response.get_data(as_text=True)

    assert response.status_code in (409, 422)
    error = page.split(f'id="{field}-error">', 1)[1].split("</p>", 1)[0]
    assert message.replace("'", "&#39;") in error
    for name, typed in (NEW_CLIENT | changes).items():  # what was typed is kept
        if typed.strip() and name not in ("groups", "tier", "status"):
            assert f'value="{typed}"'.replace("'", "&#39;") in page, name
    assert _snapshot() == before
    assert sent == []


def test_duplicate_slug_and_taken_identity_answer_409(client):
    make_client("taken", identities=[("stripe", "cus_9x")])
    response = client.post("/clients/new", data=NEW_CLIENT | {"slug": "taken"})
    assert response.status_code == 409
    response = client.post("/clients/new", data=NEW_CLIENT)
    assert response.status_code == 409
    assert "identity stripe cus_9x already belongs to taken" in response.get_data(as_text=True)


def test_edit_changes_fields_lists_and_the_slug(client):
    acme = make_client(
        "acme",
        name="Acme",
        tier="new",
        emails=["ana@acme.example", "bo@acme.example"],
        identities=[("stripe", "cus_1"), ("zendesk", "77")],
    )
    ana, bo = sorted(acme.contacts, key=lambda c: c.name)
    page = client.get("/clients/acme/edit").get_data(as_text=True)
    assert 'value="ana@acme.example"' in page and 'value="cus_1"' in page

    form = {
        "name": "Acme Dental",
        "slug": "acme-dental",
        "tier": "problem",
        "status": "active",
        "timezone": "America/New_York",
        "groups": "industry: Dental",
        # Ana renamed in place, Bo removed, Cy added
        "contacts-0-id": str(ana.id),
        "contacts-0-name": "Ana Lima",
        "contacts-0-email": "ana@acme.example",
        "contacts-1-id": str(bo.id),
        "contacts-1-name": "bo",
        "contacts-1-email": "bo@acme.example",
        "contacts-1-remove": "on",
        "contacts-2-name": "Cy",
        "contacts-2-email": "CY@acme.example",
        # zendesk removed, salesforce added
        "identities-0-system": "stripe",
        "identities-0-key": "cus_1",
        "identities-1-system": "zendesk",
        "identities-1-key": "77",
        "identities-1-remove": "on",
        "identities-2-system": "salesforce",
        "identities-2-key": "001ABC",
    }
    with mapped_hints() as sent:
        response = client.post("/clients/acme/edit", data=form)

    assert response.status_code == 302
    assert response.headers["Location"] == "/clients/acme-dental"
    assert _flashes(client) == ["Saved Acme Dental."]
    db.session.expire_all()
    acme = db.session.get(Client, acme.id)
    assert (acme.slug, acme.name, acme.tier, acme.timezone) == (
        "acme-dental",
        "Acme Dental",
        "problem",
        "America/New_York",
    )
    assert [(g.kind, g.name) for g in acme.groups] == [("industry", "Dental")]
    assert sorted((c.id, c.name, c.email) for c in acme.contacts)[0] == (
        ana.id,
        "Ana Lima",
        "ana@acme.example",
    )
    assert sorted(c.email for c in acme.contacts) == ["ana@acme.example", "cy@acme.example"]
    # the old slug still finds the client
    assert sorted((i.system, i.external_key) for i in acme.identities) == [
        ("salesforce", "001ABC"),
        ("stripe", "cus_1"),
        ("touchline", "acme"),
    ]
    assert set(sent) == {
        ("salesforce", "001ABC"),
        ("email", "cy@acme.example"),
        ("touchline", "acme-dental"),
    }


def test_the_edit_form_posted_back_untouched_changes_nothing(client):
    make_client(
        "acme",
        name="Acme",
        tier="key",
        account_manager="Ana Lima",
        customer_since=date(2024, 2, 1),
        emails=["ana@acme.example"],
        identities=[("stripe", "cus_1")],
    )
    sparse = make_client("sparse", name="Sparse")  # empty date, notes, industry ...
    for slug in ("acme", "sparse"):
        before = _snapshot()
        form = _posted_as_is(client.get(f"/clients/{slug}/edit").get_data(as_text=True))
        response = client.post(f"/clients/{slug}/edit", data=form)
        assert response.status_code == 302, response.get_data(as_text=True)
        db.session.expire_all()
        assert _snapshot() == before
    assert sparse.customer_since is None and sparse.timezone == "UTC"


def test_links_learnt_from_records_are_neither_listed_nor_dropped_by_the_form(client):
    """A client has an identity per charge, invoice and ticket its records
    taught (thousands, in time): its form lists the ones people keep."""
    make_client(
        "acme",
        identities=[
            ("stripe", "cus_1"),
            ("stripe_charge", "ch_1"),
            ("stripe_invoice", "in_1"),
            ("zendesk-ticket", "155"),
        ],
    )
    page = client.get("/clients/acme/edit").get_data(as_text=True)
    form = _posted_as_is(page)
    assert "cus_1" in form.values() and not {"ch_1", "in_1", "155"} & set(form.values())
    form["identities-1-system"], form["identities-1-key"] = "domain", "acme.example"
    assert client.post("/clients/acme/edit", data=form).status_code == 302
    db.session.expire_all()
    kept = db.session.scalars(select(Identity.system).order_by(Identity.system)).all()
    assert kept == ["domain", "stripe", "stripe_charge", "stripe_invoice", "zendesk-ticket"]


def test_a_failed_edit_keeps_what_was_typed_and_saves_nothing(client):
    make_client("other", identities=[("stripe", "cus_2")])
    make_client("acme", name="Acme", tier="new", emails=["ana@acme.example"])
    before = _snapshot()
    response = client.post(
        "/clients/acme/edit",
        data={
            "name": "Acme Renamed",
            "tier": "key",
            "status": "active",
            "timezone": "UTC",
            "contacts-0-name": "Someone",
            "contacts-0-email": "someone@acme.example",
            "identities-0-system": "stripe",
            "identities-0-key": "cus_2",
        },
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 409
    assert 'id="identities-0-error">identity stripe cus_2 already belongs to other' in page
    assert 'value="Acme Renamed"' in page and 'value="someone@acme.example"' in page
    assert 'action="/clients/acme/edit"' in page
    db.session.expire_all()
    assert _snapshot() == before


def test_a_contact_id_of_another_client_is_refused(client):
    other = make_client("other", emails=["x@other.example"])
    make_client("acme")
    response = client.post(
        "/clients/acme/edit",
        data={
            "name": "Acme",
            "tier": "new",
            "status": "active",
            "timezone": "UTC",
            "contacts-0-id": str(other.contacts[0].id),
            "contacts-0-name": "X",
        },
    )
    assert response.status_code == 422
    assert "is not one of acme&#39;s" in response.get_data(as_text=True)


def test_editing_an_unknown_client_is_404(client):
    assert client.get("/clients/nobody/edit").status_code == 404
    assert client.post("/clients/nobody/edit", data={"name": "x"}).status_code == 404


def test_one_contact_or_identity_at_a_time(app):
    """The single-item operations the form's lists are built from."""
    make_client("other", identities=[("zendesk", "9")])
    acme = make_client("acme")
    with mapped_hints() as sent:
        ana = members.add_contact(
            db.session, acme, {"name": "Ana", "email": "Ana@Acme.example"}, started_by="web"
        )
        members.update_contact(db.session, acme, ana.id, {"role": "IT lead"}, started_by="web")
        members.add_identities(db.session, acme, [("Stripe", "cus_7")], started_by="web")
        with pytest.raises(members.IdentityTaken, match="zendesk 9 already belongs to other"):
            members.add_identities(db.session, acme, [("zendesk", "9")], started_by="web")
    assert (ana.email, ana.role) == ("ana@acme.example", "IT lead")
    assert sent == [("email", "ana@acme.example"), ("stripe", "cus_7")]
    with pytest.raises(operations.ClientInputError, match="already a contact"):
        members.add_contact(
            db.session, acme, {"name": "Again", "email": "ana@acme.example"}, started_by="web"
        )

    members.remove_contact(db.session, acme, ana.id)
    members.remove_identity(db.session, acme, "stripe", "cus_7")
    db.session.commit()
    assert acme.contacts == [] and acme.identities == []
    with pytest.raises(operations.ClientInputError, match="acme has no identity stripe cus_7"):
        members.remove_identity(db.session, acme, "stripe", "cus_7")
