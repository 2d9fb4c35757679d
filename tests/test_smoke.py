from tests.factories import make_client


def test_health_reports_the_database(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json["database"]["ok"] is True


def test_overview_lists_clients(client):
    make_client("acme-dental", name="Acme Dental", tier="key")
    page = client.get("/overview").get_data(as_text=True)
    assert "Acme Dental" in page
    assert "tier-key" in page
