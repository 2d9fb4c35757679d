"""The briefing answers only questions it can answer truly: no briefing for a
day before the client existed (page, PDF, API, CLI, batch), and its header
names the client's groups, not the language and time zone restated as groups."""

import io
import re
from datetime import date

from pypdf import PdfReader

from crm.clients.lifespan import known_since
from crm.models import Group
from reports.briefing.batch import make_briefings
from tests.factories import make_client, stored_event


def _since_2024():
    return make_client("acme", name="Acme", customer_since=date(2024, 3, 1))


def test_the_page_and_pdf_refuse_a_day_before_the_client_existed(client, session):
    _since_2024()
    for path in ("/clients/acme/briefing", "/clients/acme/briefing.pdf"):
        refused = client.get(f"{path}?date=2024-02-29")
        assert refused.status_code == 400, path
        text = refused.get_data(as_text=True)
        assert "2024-02-29 is before Acme existed" in text and "2024-03-01" in text, path
    assert client.get("/clients/acme/briefing?date=2024-03-01").status_code == 200


def test_the_api_names_the_date_field(client, session):
    _since_2024()
    refused = client.get("/api/v1/clients/acme/briefing?date=2023-12-31")
    assert refused.status_code == 422
    assert refused.json["field"] == "date" and "before Acme existed" in refused.json["message"]


def test_the_cli_refuses_it_too(runner, session):
    _since_2024()
    result = runner.invoke(args=["briefing", "acme", "--date", "2020-01-01"])
    assert result.exit_code != 0 and "before Acme existed" in result.output


def test_history_imported_later_counts_as_existing(client, session):
    acme = make_client("acme", name="Acme")  # entered today, no customer_since
    assert known_since(session, acme) is None  # nothing says when they began
    stored_event(acme, "ticket.opened", thread="T-1")  # 2026-10-01 09:00 UTC
    assert known_since(session, acme) == date(2026, 10, 1)
    assert client.get("/clients/acme/briefing?date=2026-10-01").status_code == 200
    assert client.get("/clients/acme/briefing?date=2026-09-30").status_code == 400


def test_the_first_day_is_the_clients_own(session):
    # 00:30 on 1 October in Auckland is still 30 September in UTC.
    far = make_client("far", timezone="Pacific/Auckland")
    stored_event(far, "ticket.opened", -19.5, thread="T-1")  # 2026-09-30 11:30 UTC
    assert known_since(session, far) == date(2026, 10, 1)


def test_a_batch_leaves_out_a_client_that_came_later_saying_why(app, session):
    acme = _since_2024()
    older = make_client("older", name="Older", customer_since=date(2019, 1, 1))
    outcomes = {o.slug: o for o in make_briefings(session, [acme, older], date(2023, 6, 1))}
    assert outcomes["older"].briefing is not None
    assert outcomes["acme"].briefing is None
    assert "before Acme existed" in outcomes["acme"].error


def _groups_header(html: str) -> str:
    return re.search(r"<dt>Groups</dt><dd>(.*?)</dd>", html, re.DOTALL).group(1)


def test_the_header_lists_groups_not_the_language_and_time_zone(client, session):
    groups = [
        Group(kind="industry", name="Dental"),
        Group(kind="language", name="pt"),
        Group(kind="timezone", name="Europe/Lisbon"),
        Group(kind="location", name="Porto"),
    ]
    make_client("acme", name="Acme", timezone="Europe/Lisbon", language="pt", groups=groups)
    page = client.get("/clients/acme/briefing").get_data(as_text=True)
    header = _groups_header(page)
    assert "Dental" in header and "Porto" in header
    assert "pt" not in header.replace("Porto", "") and "Lisbon" not in header
    assert client.get("/api/v1/clients/acme/briefing").json["client"]["groups"] == [
        "Dental",
        "Porto",
    ]
    pdf = client.get("/clients/acme/briefing.pdf").data
    first_page = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    groups_line = next(line for line in first_page.splitlines() if line.startswith("Groups"))
    assert "Dental" in groups_line and "Porto" in groups_line
    assert "Lisbon" not in groups_line and " pt" not in groups_line
