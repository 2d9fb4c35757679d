"""Pages refuse a NUL character in what they are sent, naming where it was."""

import pytest
from sqlalchemy import func, select

from crm.models import Client
from tests.factories import make_client
from tests.test_client_forms import NEW_CLIENT


@pytest.mark.parametrize(
    "path",
    ["/clients?q=Ac%00me", "/clients/acme?q=%00", "/unmatched?system=a%00b", "/runs?connector=%00"],
)
def test_a_page_refuses_a_nul_in_its_query(login_as, path):
    make_client("acme")
    response = login_as("admin", "manager").get(path)
    name = path.split("?")[1].split("=")[0]
    assert response.status_code == 400
    assert f"{name}: holds a character no text can keep" in response.text


def test_a_form_with_a_nul_is_refused_and_nothing_is_saved(login_as, session):
    response = login_as("manager").post("/clients/new", data=NEW_CLIENT | {"name": "Cl\x00nica"})
    assert response.status_code == 400 and "name: holds a character" in response.text
    assert session.scalar(select(func.count()).select_from(Client)) == 0


def test_the_api_keeps_its_own_answer(api_as):
    response = api_as("manager").get("/api/v1/clients", query_string={"q": "Ac\x00"})
    assert response.status_code == 422 and response.json["field"] == "q"
