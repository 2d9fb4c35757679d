"""Error pages use the site's layout, say what went wrong in words and what
to do next, for every address; the API and webhooks keep answering JSON."""

import pytest

from crm.accounts import policy
from tests.accounts import signed_in_client

MENU = 'aria-label="Main"'


def test_an_address_that_names_nothing_gets_the_site_page(client):
    response = client.get("/no/such/page")
    page = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "Nothing here" in page and "Start again from the first page" in page
    assert MENU in page  # the menu, to go on from
    assert "<code>" not in page and "requested URL" not in page


def test_a_method_an_address_does_not_take_says_so_and_which_it_does(client):
    response = client.delete("/account")
    assert response.status_code == 405 and "GET" in response.headers["Allow"]
    assert "Not done that way" in response.get_data(as_text=True)


@pytest.mark.fresh_app
def test_a_server_error_gets_a_page_with_a_reference(app, monkeypatch):
    app.config["PROPAGATE_EXCEPTIONS"] = False

    def broken():
        raise RuntimeError("a bug")

    app.add_url_rule("/broken", "broken", broken)
    monkeypatch.setitem(policy.ENDPOINTS, "broken", policy.SIGNED_IN)
    response = signed_in_client(app).get("/broken")
    page = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Something went wrong on our side" in page
    assert response.headers["X-Request-ID"] in page and "a bug" not in page


def test_the_api_and_webhooks_answer_json(client):
    api = client.get("/api/v1/no-such-thing")
    assert api.status_code == 404 and api.json["code"] == 404
    hook = client.get("/webhooks/stripe")
    assert hook.status_code == 405 and "error" in hook.json
