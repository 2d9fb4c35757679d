"""Days at the ends of the calendar are refused naming the accepted range, never a 500."""

import pytest

from tests.factories import make_client

RANGE = "must be a day from 1900-01-01 to 2999-12-31"


@pytest.fixture
def acme(app):
    return make_client("acme")


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/clients/acme/timeline?to=9999-12-31",
        "/api/v1/clients/acme/timeline?from=0001-01-01",
        "/api/v1/reports/portfolio?from=9999-12-31",
        "/api/v1/reports/portfolio?to=0001-01-01",
        "/api/v1/clients/acme/briefing?date=0001-01-01",
        "/api/v1/clients/acme/briefing?date=9999-12-31",
    ],
)
def test_the_api_answers_422_with_the_range(client, acme, url):
    response = client.get(url)
    assert response.status_code == 422, response.get_data(as_text=True)
    assert RANGE in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "url",
    [
        "/clients/acme?to=9999-12-31",
        "/reports/portfolio?from=9999-12-31",
        "/reports/portfolio.csv?to=0001-01-01",
        "/clients/acme/briefing?date=0001-01-01",
        "/clients/acme/briefing.pdf?date=9999-12-31",
    ],
)
def test_pages_say_what_is_wrong(client, acme, url):
    response = client.get(url)
    assert 400 <= response.status_code < 500, response.status_code
    assert RANGE in response.get_data(as_text=True)
