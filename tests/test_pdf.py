"""The one PDF helper: real PDFs, and nothing fetched but our static files."""

import io
from pathlib import Path

import pytest
from pypdf import PdfReader

from reports.pdf import BASE_URL, RefusedURL, render_pdf, static_file_for


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_renders_text_with_the_projects_own_font_and_stylesheet(app):
    html = (
        '<html lang="en"><head><link rel="stylesheet" href="/static/touchline.css">'
        "<style>@font-face { font-family: Body; src: url(/static/fonts/DejaVuSans.ttf) }"
        " body { font-family: Body }</style></head><body><h1>Open disputes: 2</h1></body></html>"
    )
    pdf = render_pdf(html)
    assert pdf.startswith(b"%PDF")
    assert "Open disputes: 2" in _text(pdf)
    fonts = {
        str(font.get("/BaseFont"))
        for page in PdfReader(io.BytesIO(pdf)).pages
        for font in page["/Resources"]["/Font"].values()
    }
    # WeasyPrint names an embedded @font-face font after its family.
    assert fonts and all(name.endswith(("+Body", "+Body-Bold")) for name in fonts), fonts


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "http://127.0.0.1:9/secret.png",
        "https://example.com/tracker.png",
        BASE_URL + "static/../crm/config.py",
        BASE_URL + "static/does-not-exist.png",
        BASE_URL + "instance/touchline.db",
    ],
)
def test_refuses_everything_but_static_files(app, url):
    with pytest.raises(RefusedURL):
        static_file_for(url, Path(app.static_folder).resolve())


def test_hostile_references_in_a_document_are_not_fetched(app, monkeypatch):
    asked = []

    def recording(url, folder):
        asked.append(url)
        return static_file_for(url, folder)

    monkeypatch.setattr("reports.pdf.static_file_for", recording)
    html = (
        '<html lang="en"><body><p>before</p>'
        '<img src="file:///etc/passwd"><img src="http://127.0.0.1:9/x.png">'
        '<div style="background: url(file:///etc/hostname)">after</div></body></html>'
    )
    text = _text(render_pdf(html))
    assert "before" in text and "after" in text
    assert "root:" not in text
    # Every one went through the refusing check (WeasyPrint fetched none itself).
    assert sorted(asked) == [
        "file:///etc/hostname",
        "file:///etc/passwd",
        "http://127.0.0.1:9/x.png",
    ]
