"""The API explorer in a real browser that reaches nothing but the app:
Swagger UI comes from the app, so it draws the operations offline."""


def test_the_api_explorer_draws_the_operations_with_no_network(page):
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto("/api/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=15_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any("/api/v1/clients" in path for path in paths)
    base = page.url.split("/api/docs")[0]
    assert requests and all(url.startswith(base) for url in requests), requests
