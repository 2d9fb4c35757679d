"""What `sf data export tree` writes, ingested: references, nesting, plans, archives.

On Salesforce's own published tree files (fixtures/vendors/SOURCES.md): the
lwc-recipes and apex-recipes sample data (a plan export's Accounts and
Opportunities files, and a CSV made from one), and the Salesforce CLI's test
exports (a reference to an account the export does not hold).
"""

import io
import json
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select

from connectors import review, salesforce_export
from crm.models import Event, Identity, InboxRecord
from tests.factories import make_client
from tests.helpers import inbox_by_locator, ingest_file

VENDORS = Path(__file__).parent / "fixtures" / "vendors"
LWC = {
    "Accounts.json": VENDORS / "salesforce_lwc_recipes_Accounts.json",
    "Opportunities.json": VENDORS / "salesforce_lwc_recipes_Opportunities.json",
    "data-plan.json": VENDORS / "salesforce_lwc_recipes_data-plan.json",
}
NESTED = VENDORS / "salesforce_tree_export_nested_DOCUMENTED_SHAPE.json"
APEX_ACCOUNTS = VENDORS / "salesforce_apex_recipes_Accounts.json"
APEX_OPPORTUNITIES = VENDORS / "salesforce_apex_recipes_Opportunities.json"
APEX_CSV = VENDORS / "salesforce_apex_recipes_Opportunities.csv"
CLI_ACCOUNT = VENDORS / "salesforce_plugin_data_commonChild_Account.json"
CLI_OPPORTUNITY = VENDORS / "salesforce_plugin_data_commonChild_Opportunity.json"
CLI_PLAN = VENDORS / "salesforce_plugin_data_commonChild_Account-Opportunity-Task-Case-plan.json"
CLI_MISSING_REF = VENDORS / "salesforce_plugin_data_missingRef_Opportunity.json"


def archive(path: Path, members: dict[str, Path | bytes]) -> Path:
    """A ZIP of an export's output directory, as a person would make it."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for name, source in members.items():
            out.writestr(name, source if isinstance(source, bytes) else source.read_bytes())
    return path


def ingest(runner, path) -> tuple:
    summary = ingest_file(runner, "salesforce", path)
    return tuple(
        summary[name] for name in ("accepted", "duplicate", "skipped", "rejected", "unmatched")
    )


def timeline(session) -> list[tuple]:
    return session.execute(
        select(Event.external_id, Event.client_id, Event.kind, Event.thread_key).order_by(
            Event.external_id
        )
    ).all()


def map_name(runner, name: str, slug: str) -> str:
    result = runner.invoke(args=["identities", "map", "salesforce-name", name, slug])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_plan_export_as_one_archive_waits_by_account_name_until_mapped(runner, session, tmp_path):
    """lwc-recipes: ten accounts, twenty opportunities naming them as
    `@AccountRefN`. Each opportunity waits under its account's name, beside
    the account itself; mapping the name once places both."""
    export = archive(tmp_path / "export.zip", {f"data/{n}": p for n, p in LWC.items()})
    assert ingest(runner, export) == (0, 0, 0, 0, 30)

    groups = {group.label: group for group in review.unmatched_groups(session).items}
    alpha = groups["Salesforce account name Alpha Dynamics"]
    assert alpha.records == 3  # the account and its two opportunities
    assert len(groups) == 10
    rows = inbox_by_locator(session)
    assert rows["data/Opportunities.json: records[0]"].record["Account"]["Name"] == "Alpha Dynamics"

    dynamics = make_client("alpha-dynamics", name="Alpha Dynamics Inc.")
    (suggested, *_) = review.unmatched_groups(session, search="alpha").items[0].suggestions
    assert suggested.slug == "alpha-dynamics"
    assert suggested.reasons[0] == (
        "Salesforce account name “Alpha Dynamics” resembles name Alpha Dynamics Inc."
    )
    assert "replayed 3 salesforce records: 2 accepted, 1 duplicate" in map_name(
        runner, "Alpha Dynamics", "alpha-dynamics"
    )
    session.expire_all()
    placed = session.scalars(select(Event).where(Event.client_id == dynamics.id)).all()
    assert sorted(e.title for e in placed) == [
        "Opportunity Proposal/Price Quote: Cloud Platform Expansion (USD 125,000.00)",
        "Opportunity Qualification: Security Assessment Engagement (USD 42,000.00)",
    ]
    assert {e.attributes["account_reference"] for e in placed} == {"@AccountRef1"}

    # The same export again: what went in and what waits are duplicates.
    assert ingest(runner, export) == (0, 30, 0, 0, 0)


def test_an_export_nested_by_parent_or_split_by_a_plan_gives_the_same_events(
    runner, session, tmp_path
):
    """Without --plan the CLI nests each account's opportunities under it;
    with it, it splits them into files joined by references. Both say the
    same: the second is all duplicates. So is the files' JSON array."""
    for number, name in enumerate(("Alpha Dynamics", "Madison Investments"), start=1):
        make_client(f"client-{number}", identities=[("salesforce-name", name)])
    # Their 4 deals go in; their accounts' names are known already; the rest wait.
    assert ingest(runner, NESTED) == (4, 2, 0, 0, 24)
    rows = inbox_by_locator(session)
    nested = rows["records[2].Opportunities[0]"]
    assert nested.record["Account"]["Name"] == "Burlington Textiles"
    events = timeline(session)

    export = archive(tmp_path / "export.zip", {n: p for n, p in LWC.items()})
    assert ingest(runner, export) == (0, 30, 0, 0, 0)
    joined = tmp_path / "export.json"
    joined.write_text(json.dumps([json.loads(p.read_text()) for p in LWC.values()]))
    assert ingest(runner, joined) == (0, 30, 0, 0, 0)
    assert timeline(session) == events


def test_an_opportunities_file_alone_cannot_know_its_accounts(runner, session):
    """A plan export's opportunity file names accounts only by references
    that the next export will number anew: alone, it is rejected saying what
    to send, and nothing lands on a client by guess."""
    make_client("alpha", identities=[("salesforce-name", "Alpha Dynamics")])
    assert ingest(runner, LWC["Opportunities.json"]) == (0, 0, 0, 20, 0)
    row = inbox_by_locator(session)["records[0]"]
    assert row.field == "AccountId"
    assert "(@AccountRef1)" in row.reason and "ZIP archive" in row.reason
    assert session.scalars(select(Event)).all() == []

    # Its accounts alone are claims: mapped names register them.
    assert ingest(runner, LWC["Accounts.json"]) == (0, 1, 0, 0, 9)
    # The plan alone names the files to send with it.
    assert ingest(runner, LWC["data-plan.json"]) == (0, 0, 3, 0, 0)
    plan = inbox_by_locator(session)["index 2"]
    assert "Opportunity files (Opportunities.json)" in plan.reason


def test_two_exports_references_never_collide(runner, session, tmp_path):
    """AccountRef1 is Alpha Dynamics in lwc-recipes and "Test" in the CLI's
    own test export: each export's opportunities go to its own account."""
    alpha = make_client("alpha", identities=[("salesforce-name", "Alpha Dynamics")])
    test = make_client("test", identities=[("salesforce-name", "Test")])
    ingest(runner, archive(tmp_path / "lwc.zip", LWC))
    cli = {"Account.json": CLI_ACCOUNT, "Opportunity.json": CLI_OPPORTUNITY, "plan.json": CLI_PLAN}
    assert ingest(runner, archive(tmp_path / "cli.zip", cli)) == (1, 1, 0, 0, 1)
    owners = dict(session.execute(select(Event.title, Event.client_id)).all())
    assert owners["Opportunity Qualification: Test Oppty"] == test.id
    assert owners[
        "Opportunity Proposal/Price Quote: Cloud Platform Expansion (USD 125,000.00)"
    ] == (alpha.id)


def test_a_reference_to_an_account_the_export_lacks_is_rejected(runner, session, tmp_path):
    """The CLI's own test of a plan whose opportunity names @AccountRef2000."""
    make_client("test", identities=[("salesforce-name", "Test")])
    export = {"Account.json": CLI_ACCOUNT, "Opportunity.json": CLI_MISSING_REF}
    assert ingest(runner, archive(tmp_path / "missing.zip", export)) == (0, 1, 0, 1, 1)
    row = inbox_by_locator(session)["Opportunity.json: records[0]"]
    assert row.field == "AccountId" and "@AccountRef2000" in row.reason


def test_a_csv_made_from_the_export_keeps_its_references(runner, session, tmp_path):
    """apex-recipes publishes its opportunities as tree JSON (lower-case
    fields, close dates with times) and as a CSV made from it. With the
    accounts file, either resolves the same: the same keys, so the second
    is all duplicates."""
    names = {
        record["attributes"]["referenceId"]: record["name"]
        for record in json.loads(APEX_ACCOUNTS.read_text())["records"]
    }
    for number, name in enumerate(sorted(set(names.values()))):
        make_client(f"apex-{number}", identities=[("salesforce-name", name)])
    as_json = {"Accounts.json": APEX_ACCOUNTS, "Opportunities.json": APEX_OPPORTUNITIES}
    assert ingest(runner, archive(tmp_path / "json.zip", as_json)) == (50, 50, 0, 0, 0)
    events = timeline(session)
    first = session.scalars(select(Event).where(Event.title.contains("Cape starling"))).one()
    assert first.attributes["accountname"] == names["AccountRef32"]
    assert first.external_id.endswith(":2020-12-22")  # "closedate": "2020-12-22T21:16:01Z"

    as_csv = {"Accounts.json": APEX_ACCOUNTS, "Opportunities.csv": APEX_CSV}
    assert ingest(runner, archive(tmp_path / "csv.zip", as_csv)) == (0, 100, 0, 0, 0)
    assert timeline(session) == events
    # Alone, the CSV's references resolve to nothing.
    assert ingest(runner, APEX_CSV) == (0, 0, 0, 50, 0)


def test_an_archive_reads_what_it_can_and_says_what_it_cannot(runner, session, tmp_path):
    make_client("alpha", identities=[("salesforce-name", "Alpha Dynamics")])
    export = archive(
        tmp_path / "export.zip",
        LWC
        | {
            "README.md": b"exported with sf data export tree --plan",
            "__MACOSX/._Accounts.json": b"\x00\x05\x16\x07",
            "broken.json": b'{"records": [',
        },
    )
    summary = ingest(runner, export)
    assert summary == (2, 1, 0, 1, 27)
    broken = inbox_by_locator(session)["broken.json"]
    assert broken.status == "rejected" and "not valid JSON" in broken.reason


def test_an_archive_that_cannot_be_read_fails_its_run(runner, session, tmp_path, monkeypatch):
    corrupt = tmp_path / "corrupt.zip"
    corrupt.write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    result = runner.invoke(args=["ingest", "salesforce", str(corrupt)])
    assert result.exit_code != 0 and "not a readable ZIP archive" in result.output

    monkeypatch.setattr(salesforce_export, "UNPACKED_LIMIT", 1000)
    big = archive(tmp_path / "big.zip", {"Opportunities.json": b" " * 2000 + b"[]"})
    result = runner.invoke(args=["ingest", "salesforce", str(big)])
    assert result.exit_code != 0 and "unpacks to 2002 bytes" in result.output
    assert session.scalars(select(InboxRecord)).all() == []


def test_one_reference_two_accounts_in_one_archive_resolves_to_neither(runner, session, tmp_path):
    """Two exports' files zipped together: AccountRef1 is two accounts, so
    an opportunity naming it is rejected rather than given to either."""
    make_client("alpha", identities=[("salesforce-name", "Alpha Dynamics")])
    export = archive(
        tmp_path / "two.zip",
        {
            "lwc/Accounts.json": LWC["Accounts.json"],
            "cli/Account.json": CLI_ACCOUNT,
            "cli/Opportunity.json": CLI_OPPORTUNITY,
        },
    )
    ingest(runner, export)
    row = inbox_by_locator(session)["cli/Opportunity.json: records[0]"]
    assert row.status == "rejected" and "@AccountRef1" in row.reason


def test_an_account_with_an_id_registers_it_when_its_name_is_mapped(runner, session, tmp_path):
    """A REST query of accounts keeps their ids: mapping the name registers
    the id too, and what waited for the id goes in."""
    accounts = tmp_path / "accounts.json"
    url = "/services/data/v59.0/sobjects/Account/0015g00000Lm2QaAAJ"
    accounts.write_text(
        json.dumps(
            {
                "totalSize": 1,
                "done": True,
                "records": [{"attributes": {"type": "Account", "url": url}, "Name": "Northwind"}],
            }
        )
    )
    opportunity = tmp_path / "opportunity.csv"
    opportunity.write_text(
        "Id,AccountId,Name,StageName,CloseDate\n"
        "006000000000041,0015g00000Lm2QaAAJ,Firewall,Prospecting,2026-03-01\n"
    )
    assert ingest(runner, opportunity) == (0, 0, 0, 0, 1)
    assert ingest(runner, accounts) == (0, 0, 0, 0, 1)
    northwind = make_client("northwind")
    output = map_name(runner, "Northwind", "northwind")
    assert "1 accepted" in output  # the account's claim, then the opportunity it places
    session.expire_all()
    assert session.scalars(select(Event.client_id)).all() == [northwind.id]
    known = session.scalars(select(Identity.external_key).where(Identity.client_id == northwind.id))
    assert sorted(known) == ["0015g00000Lm2QaAAJ", "Northwind"]


@pytest.mark.parametrize("path", [LWC["Opportunities.json"], NESTED])
def test_a_tree_export_uploads_through_the_api_as_an_archive(client, session, tmp_path, path):
    export = archive(
        tmp_path / "export.zip", {"Accounts.json": LWC["Accounts.json"], "x.json": path}
    )
    response = client.post(
        "/api/v1/ingest/salesforce",
        data={"file": (io.BytesIO(export.read_bytes()), "export.zip")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200, response.json
    assert response.json["rejected"] == 0 and response.json["unmatched"] > 20


def test_a_query_result_with_children_gives_them_their_parents_id(runner, session, tmp_path):
    """The REST query API (and `sf data query --json`) nests a subquery's
    records under the parent, whose id is in its url: the shape of
    salesforcecli/plugin-data's exportApi test data."""
    northwind = make_client("northwind", identities=[("salesforce", "001xx000003DHzvAAG")])
    url = "/services/data/v39.0/sobjects/{}/{}"
    result = {
        "totalSize": 1,
        "done": True,
        "records": [
            {
                "attributes": {
                    "type": "Account",
                    "url": url.format("Account", "001xx000003DHzvAAG"),
                },
                "Name": "BigDogs",
                "Opportunities": {
                    "totalSize": 1,
                    "done": True,
                    "records": [
                        {
                            "attributes": {
                                "type": "Opportunity",
                                "url": url.format("Opportunity", "006xx000001a2b3AAA"),
                            },
                            "Id": "006xx000001a2b3AAA",
                            "Name": "Kennel upgrade",
                            "StageName": "Prospecting",
                            "CloseDate": "2026-02-01",
                        }
                    ],
                },
            }
        ],
    }
    path = tmp_path / "query.json"
    path.write_text(json.dumps(result))
    # The deal, and the account: known by its id, it registers its name.
    assert ingest(runner, path) == (2, 0, 0, 0, 0)
    event = session.scalars(select(Event)).one()
    assert (event.client_id, event.thread_key) == (northwind.id, "006xx000001a2b3AAA")
    known = session.scalars(select(Identity.external_key).where(Identity.client_id == northwind.id))
    assert sorted(known) == ["001xx000003DHzvAAG", "BigDogs"]


def test_locators_fit_their_column_however_deep_or_long_the_names(runner, session, tmp_path):
    long_folder = "exports/" + "salesforce-" * 6
    export = archive(
        tmp_path / "deep.zip",
        {
            f"{long_folder}/Accounts.json": NESTED,
            f"{long_folder}/{'x' * 60}-Opportunitys.json": LWC["Opportunities.json"],
        },
    )
    ingest(runner, export)
    locators = session.scalars(select(InboxRecord.locator)).all()
    assert len(locators) == 50 and max(map(len, locators)) <= 40
    assert "Accounts.j…: records[0].Opportunities[1]" in locators
    assert any(locator.endswith("…: records[19]") for locator in locators)
