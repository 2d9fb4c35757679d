"""The command line: ingest summaries, stats, identities."""

import json

from tests.factories import event, make_client, ndjson


def test_ingest_prints_a_summary_with_the_problems(runner, tmp_path):
    make_client("acme", identities=[("account", "AC-1")])
    path = ndjson(
        tmp_path / "t.ndjson",
        [event("1", "ticket.opened", 0, account="AC-1"), event("2", "ticket.opened", 0)],
    )
    result = runner.invoke(args=["ingest", "tickets", str(path)])
    assert result.exit_code == 0, result.output
    assert "accepted           1" in result.output
    assert (
        "rejected: line 2: client is required: give at least one of client, account or email"
        in result.output
    )


def test_ingest_takes_several_files_and_says_which_cannot_be_read(runner, tmp_path):
    make_client("acme", identities=[("account", "AC-1")])
    first = ndjson(tmp_path / "a.ndjson", [event("1", "ticket.opened", 0, account="AC-1")])
    latin1 = tmp_path / "latin1.ndjson"
    latin1.write_bytes("caf\xe9\n".encode("latin-1"))
    last = ndjson(tmp_path / "b.ndjson", [event("2", "ticket.opened", 1, account="AC-1")])
    paths = [str(first), str(latin1), str(last)]

    result = runner.invoke(args=["ingest", "tickets", *paths, "--json"])
    assert result.exit_code == 1 and f"cannot read {latin1}" in result.output
    summaries = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert [(s["file"], s["status"], s["accepted"]) for s in summaries] == [
        (paths[0], "finished", 1),
        (paths[1], "failed", 0),
        (paths[2], "finished", 1),
    ]

    again = runner.invoke(args=["ingest", "tickets", str(first), str(last)])
    assert again.exit_code == 0, again.output
    assert again.output.count("duplicate          1") == 2


def test_ingest_refuses_unknown_connectors_and_missing_files(runner, tmp_path):
    result = runner.invoke(args=["ingest", "nosuch", str(tmp_path / "x.csv")])
    assert result.exit_code == 2 and "no connector named 'nosuch'" in result.output
    result = runner.invoke(args=["ingest", "billing", str(tmp_path / "missing.csv")])
    assert result.exit_code == 1 and "cannot read" in result.output


def test_ingest_refuses_a_file_type_it_cannot_read(runner, tmp_path):
    path = tmp_path / "events.xlsx"
    path.write_bytes(b"PK\x03\x04")
    result = runner.invoke(args=["ingest", "billing", str(path)])
    assert result.exit_code == 1 and "unknown file type .xlsx" in result.output


def test_stats_json_counts_what_the_database_holds(runner, tmp_path):
    make_client("acme", tier="key", identities=[("account", "AC-1")])
    make_client("beta", tier="problem")
    records = [
        event(
            "i1", "invoice.issued", 0, account="AC-1", thread="INV-1", amount="10", currency="EUR"
        ),
        event("p1", "payment.received", 5, account="AC-1", thread="INV-1"),
        event("i2", "invoice.issued", 0, account="NOPE", thread="INV-2"),
    ]
    runner.invoke(args=["ingest", "billing", str(ndjson(tmp_path / "b.ndjson", records))])
    result = runner.invoke(args=["stats", "--json"])
    stats = json.loads(result.output)
    assert stats["clients"]["by_tier"] == {"new": 0, "standard": 0, "problem": 1, "key": 1}
    assert stats["events"]["by_kind"] == {"billing": {"invoice.issued": 1, "payment.received": 1}}
    assert stats["entities"] == {"invoice": {"paid": 1}}
    assert stats["inbox"] == {"unmatched": 1}


def test_mapping_to_an_unknown_client_or_a_taken_identity_fails(runner):
    make_client("acme", identities=[("stripe", "cus_1")])
    make_client("beta")
    result = runner.invoke(args=["identities", "map", "stripe", "cus_1", "nobody"])
    assert result.exit_code == 1 and "no client with slug 'nobody'" in result.output
    result = runner.invoke(args=["identities", "map", "stripe", "cus_1", "beta"])
    assert result.exit_code == 1 and "already belongs to acme" in result.output
    result = runner.invoke(args=["identities", "map", "stripe", "cus_2", "beta"])
    assert result.exit_code == 0 and "no unmatched records were waiting" in result.output


def test_overview_shows_event_counts_per_source(client, runner, tmp_path):
    make_client("acme", name="Acme Dental", identities=[("account", "AC-1")])
    records = [event(f"a{n}", "alert.raised", n, account="AC-1") for n in range(3)]
    runner.invoke(args=["ingest", "rmm", str(ndjson(tmp_path / "r.ndjson", records))])
    page = client.get("/overview").get_data(as_text=True)
    row = page[page.index("Acme Dental") :].split("</tr>")[0]
    cells = [cell.split("</td>")[0].strip() for cell in row.split('<td class="num">')[1:]]
    assert cells == ["0", "3", "0", "0", "0", "0", "3"]


def _audit_trail() -> list[tuple[str, str, str]]:
    from sqlalchemy import select

    from crm.accounts.models import AuditEntry
    from crm.extensions import db

    entries = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    return [(entry.actor_email, entry.action, entry.target) for entry in entries]


def test_every_change_from_the_command_line_is_in_the_audit_log(runner, tmp_path):
    """The same changes from a page or the API are audited; the terminal is
    no way round the log."""
    make_client("acme", identities=[("account", "AC-1")])
    path = ndjson(tmp_path / "t.ndjson", [event("1", "ticket.opened", 0, account="AC-9")])
    assert runner.invoke(args=["ingest", "tickets", str(path)]).exit_code == 0
    mapped = runner.invoke(args=["identities", "map", "account", "AC-9", "acme"])
    assert mapped.exit_code == 0, mapped.output
    assert (
        runner.invoke(
            args=["users", "create", "ann@example.com", "--role", "manager", "--password", "x" * 12]
        ).exit_code
        == 0
    )

    trail = _audit_trail()
    assert trail[:2] == [
        ("command line", "ingest.file", "tickets"),
        ("command line", "identity.map", "acme"),
    ]
    assert trail[2][:2] == ("command line", "user.create")
