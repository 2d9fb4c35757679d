"""Briefings in batches: who is picked, the ZIP, the combined PDF, the CLI, and failures."""

import io
import os
import shutil
import zipfile
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from pypdf import PdfReader
from sqlalchemy import text

from crm.extensions import db
from crm.models import Group
from reports.briefing import batch
from reports.briefing.batch import BadSelection, Selection, find_clients
from tests.accounts import make_user
from tests.factories import make_client, stored_event

DAY = "2026-11-20"


def _groups(*names: str) -> list[Group]:
    return [Group(kind="industry", name=name) for name in names]


def _portfolio():
    """Two active key clients (one with a dispute), a churned key one, a standard one."""
    dental = _groups("Dental")
    alpha = make_client("alpha", name="Alpha Dental", tier="key", account_manager="Ana Lima",
                        groups=dental)  # fmt: skip
    make_client("beta", name="Beta Logistics", tier="key", account_manager="Mark Hughes")
    make_client("gamma", name="Gamma Retail", tier="key", status="churned")
    make_client("delta", name="Delta Smiles", tier="standard", account_manager="ana lima",
                groups=list(alpha.groups))  # fmt: skip
    stored_event(
        alpha,
        "dispute.opened",
        datetime(2026, 11, 10, 10, tzinfo=UTC),
        thread="dp_alpha",
        title="Chargeback: product not received",
        amount=Decimal("480.00"),
        currency="EUR",
        status="needs_response",
        attributes={"reason": "product_not_received", "evidence_due_by": "2026-12-01"},
    )
    db.session.commit()  # a batch rolls back after a database error: keep the data


def _text(pdf: bytes) -> str:
    return " ".join(
        " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages).split()
    )


# --- who is picked -------------------------------------------------------------------


def test_a_selection_picks_active_clients_by_tier_group_and_manager_a_to_z(app, session):
    _portfolio()
    dental = session.scalar(db.select(Group.id).where(Group.name == "Dental"))

    def slugs(**filters):
        return [client.slug for client in find_clients(session, Selection.parse(**filters)).clients]

    assert slugs(tiers=["key"]) == ["alpha", "beta"]  # gamma churned
    assert slugs(tiers=["KEY ", "standard", ""]) == ["alpha", "beta", "delta"]
    assert slugs(group="industry:dental") == ["alpha", "delta"]
    assert slugs(group=str(dental), tiers=["standard"]) == ["delta"]
    assert slugs(account_manager=" ANA LIMA") == ["alpha", "delta"]
    assert slugs(account_manager="Nobody") == []


def test_a_manager_named_by_an_account_is_picked_like_the_directory_picks_them(app, session):
    _portfolio()
    ana = make_user("manager", email="ana@ourmsp.example", name="Ana Lima")
    make_client("epsilon", name="Epsilon Dental", tier="key", manager=ana)
    picked = find_clients(session, Selection.parse(account_manager="ana lima")).clients
    assert [client.slug for client in picked] == ["alpha", "delta", "epsilon"]


def test_a_batch_is_named_for_its_selection(app, session):
    _portfolio()
    picked = find_clients(
        session, Selection.parse(["key", "standard"], "industry:Dental", "Ana Lima")
    )

    assert picked.title == "Key and standard clients in industry Dental managed by Ana Lima"
    assert picked.label == "key-standard-industry-dental-ana-lima"
    assert picked.selection.cli_options() == (
        "--tier key --tier standard --group industry:Dental --manager 'Ana Lima'"
    )


def test_bad_filters_name_themselves(app, session):
    _portfolio()

    with pytest.raises(BadSelection, match="unknown tier 'gold'") as tier:
        Selection.parse(["gold"])
    with pytest.raises(BadSelection, match="neither a group id nor kind:name") as syntax:
        Selection.parse(group="Dental")
    with pytest.raises(BadSelection, match="there is no group 'industry:Bakery'") as unknown:
        find_clients(session, Selection.parse(group="industry:Bakery"))
    with pytest.raises(BadSelection, match="Pick a tier"):
        find_clients(session, Selection.parse())

    assert (tier.value.field, syntax.value.field, unknown.value.field) == ("tier", "group", "group")


# --- the page and its downloads ------------------------------------------------------


def test_the_zip_holds_one_pdf_per_selected_client_each_naming_its_client(client):
    _portfolio()

    with client.get(f"/briefings.zip?tier=key&date={DAY}") as response:  # closes the file
        content = response.data

    assert response.status_code == 200, response.text
    assert response.mimetype == "application/zip"
    assert response.headers["Content-Length"] == str(len(content))
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="briefings-key-{DAY}.zip"'
    )
    archive = zipfile.ZipFile(io.BytesIO(content))
    assert archive.namelist() == [f"briefing-alpha-{DAY}.pdf", f"briefing-beta-{DAY}.pdf"]
    alpha = _text(archive.read(f"briefing-alpha-{DAY}.pdf"))
    beta = _text(archive.read(f"briefing-beta-{DAY}.pdf"))
    assert "Alpha Dental" in alpha and "Chargeback: product not received" in alpha
    assert "Beta Logistics" in beta and "Alpha Dental" not in beta
    assert "Chargeback" not in beta


def test_the_combined_pdf_opens_with_the_clients_and_holds_every_briefing(client, tmp_path):
    _portfolio()

    with client.get(f"/briefings.pdf?group=industry:Dental&date={DAY}") as response:
        content = response.data  # streamed from a spooled file, closed here

    assert response.status_code == 200, response.text
    assert response.mimetype == "application/pdf"
    disposition = response.headers["Content-Disposition"]
    assert disposition == f'attachment; filename="briefings-industry-dental-{DAY}.pdf"'
    pages = [" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(content)).pages]
    # each briefing from a page of its own, after the contents page
    starts = [number for number, page in enumerate(pages, 1) if "BRIEFING FOR THE MEETING" in page]
    assert len(starts) == 2 and starts[0] == 2
    assert pages[starts[0] - 1].index("Alpha Dental") < 100
    assert pages[starts[1] - 1].index("Delta Smiles") < 100
    cover = pages[0]
    assert cover.startswith("PRE-MEETING BRIEFINGS Clients in industry Dental 2 briefings")
    # the contents: client, tier, manager, health, flags and the page it starts on
    assert f"Alpha Dental key Ana Lima 80 1 {starts[0]}" in cover
    assert f"Delta Smiles standard ana lima 100 0 {starts[1]}" in cover
    whole = " ".join(pages)
    assert "Chargeback: product not received" in whole and "Beta Logistics" not in whole
    _artifact(content, tmp_path / "briefing-batch-cover.png")


def test_the_page_lists_the_selection_and_links_its_downloads(client):
    _portfolio()

    empty_form = client.get("/briefings")
    picked = client.get("/briefings?tier=key&account_manager=Ana+Lima")

    assert empty_form.status_code == 200
    assert 'formaction="/briefings.zip"' in empty_form.text
    assert "flask briefing --tier key --out DIR" in empty_form.text
    assert picked.status_code == 200
    assert "Key clients managed by Ana Lima: 1 client" in picked.text
    assert 'href="/briefings.zip?tier=key&amp;account_manager=Ana+Lima"' in picked.text
    assert "Alpha Dental" in picked.text and "Beta Logistics" not in picked.text


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("tier=gold", 400, "tier: unknown tier &#39;gold&#39;: choose from new, standard"),
        ("group=Dental", 400, "group: group &#39;Dental&#39; is neither a group id"),
        ("group=industry:Bakery", 400, "there is no group &#39;industry:Bakery&#39;"),
        ("tier=key&date=soon", 400, "date: Not a valid date."),
        ("", 400, "Pick a tier, a group or an account manager first."),
        ("account_manager=Nobody", 404, "No active clients match: clients managed by nobody."),
    ],
)
def test_a_download_that_cannot_be_made_says_why(client, query, status, message):
    _portfolio()

    for download in ("/briefings.zip", "/briefings.pdf"):
        response = client.get(f"{download}?{query}")

        assert response.status_code == status, (download, query)
        assert message in response.text
        assert response.mimetype == "text/html"


def test_a_batch_over_the_limit_is_sent_to_the_command_line(app, client):
    _portfolio()
    app.config["BRIEFING_BATCH_MAX"] = 1

    response = client.get("/briefings.zip?tier=key")
    page = client.get("/briefings?tier=key")

    assert response.status_code == 400
    assert "2 clients match, more than the 1 one download makes while you wait" in response.text
    assert "Make a ZIP in the background" in response.text
    assert "flask briefing --tier key --out briefings" in page.text
    assert "/briefings.zip?" not in page.text


def test_a_failing_briefing_is_listed_in_the_zip_beside_the_others(client, monkeypatch):
    _portfolio()
    _fail_for(monkeypatch, "alpha", RuntimeError("the timeline is on fire"))

    with client.get(f"/briefings.zip?tier=key&date={DAY}") as response:
        archive = zipfile.ZipFile(io.BytesIO(response.data))

    assert response.status_code == 200
    assert archive.namelist() == [f"briefing-beta-{DAY}.pdf", batch.FAILURES_FILE]
    failures = archive.read(batch.FAILURES_FILE).decode()
    assert "alpha: RuntimeError: the timeline is on fire" in failures


def test_when_no_briefing_can_be_made_there_is_no_download(client, monkeypatch):
    _portfolio()
    _fail_for(monkeypatch, "alpha", RuntimeError("broken"))
    _fail_for(monkeypatch, "beta", RuntimeError("broken too"))

    response = client.get("/briefings.pdf?tier=key")

    assert response.status_code == 500
    assert "None of the briefings could be made" in response.text
    assert "beta: RuntimeError: broken too" in response.text


# --- the command line ----------------------------------------------------------------


def test_the_cli_writes_a_pdf_per_client_and_names_the_one_that_failed(
    runner, monkeypatch, tmp_path
):
    _portfolio()
    make_client("epsilon", name="Epsilon Law", tier="key")
    # a database error, which leaves the transaction unusable until rolled back
    _fail_for(monkeypatch, "beta", lambda session: session.execute(text("SELECT * FROM nowhere")))
    out = tmp_path / "out"

    result = runner.invoke(args=["briefing", "--tier", "key", "--out", str(out), "--date", DAY])

    assert result.exit_code == 1, result.output
    written = sorted(path.name for path in out.iterdir())
    assert written == [f"briefing-alpha-{DAY}.pdf", f"briefing-epsilon-{DAY}.pdf"]
    assert "Epsilon Law" in _text((out / f"briefing-epsilon-{DAY}.pdf").read_bytes())
    assert "FAILED beta: " in result.output and "nowhere" in result.output
    assert "2 of 3 briefings written" in result.output
    assert result.output.rstrip().endswith("1 failed: beta.")


def test_the_cli_writes_one_combined_pdf(runner, tmp_path):
    _portfolio()
    combined = tmp_path / "dental.pdf"

    result = runner.invoke(
        args=["briefing", "--group", "industry:Dental", "--combined", str(combined)]
    )

    assert result.exit_code == 0, result.output
    assert f"2 of 2 briefings written (combined in {combined})." in result.output
    whole = _text(combined.read_bytes())
    assert "Alpha Dental" in whole and "Delta Smiles" in whole


def test_the_cli_refuses_a_batch_it_cannot_make(runner, tmp_path):
    _portfolio()
    out = str(tmp_path / "out")

    gold = runner.invoke(args=["briefing", "--tier", "gold", "--out", out])
    bakery = runner.invoke(args=["briefing", "--group", "industry:Bakery", "--out", out])
    nowhere = runner.invoke(args=["briefing", "--tier", "key"])
    both = runner.invoke(args=["briefing", "alpha", "--tier", "key", "--out", out])
    nobody = runner.invoke(args=["briefing", "--manager", "Nobody", "--out", out])

    assert gold.exit_code == 2 and "'gold' is not one of" in gold.output
    assert bakery.exit_code == 2 and "there is no group 'industry:Bakery'" in bakery.output
    assert nowhere.exit_code == 2 and "--out DIR and/or --combined FILE" in nowhere.output
    assert both.exit_code == 2 and "not both" in both.output
    assert nobody.exit_code == 1 and "No active clients match" in nobody.output
    assert not Path(out).exists()


# --- helpers -------------------------------------------------------------------------


def _fail_for(monkeypatch, slug: str, failure) -> None:
    """Make the briefing of `slug` fail: raise `failure`, or call it with the session."""
    build = batch.build_briefing

    def build_or_fail(session, client, *args, **kwargs):
        if client.slug == slug:
            if isinstance(failure, Exception):
                raise failure
            failure(session)
        return build(session, client, *args, **kwargs)

    monkeypatch.setattr(batch, "build_briefing", build_or_fail)


def _artifact(pdf: bytes, png: Path) -> None:
    """Page 1 as PNG under tmp_path, and in TOUCHLINE_TEST_ARTIFACTS when set."""
    pdfium.PdfDocument(pdf)[0].render(scale=1.5).to_pil().save(png)
    assert png.stat().st_size > 10_000
    target = os.environ.get("TOUCHLINE_TEST_ARTIFACTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(png, Path(target) / png.name)
