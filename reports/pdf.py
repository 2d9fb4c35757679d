"""The one place PDFs are made: HTML rendered by WeasyPrint, fetching nothing
but the project's own static files.

Text in a briefing comes from vendor records. A `<img src>` or CSS `url()`
smuggled into one must not make the server read a local file or call out to
the network, so the fetcher answers only `/static/...` URLs from the static
folder and refuses every other URL (other hosts, `file:`, `ftp:`, ...).

WeasyPrint costs ~0.8 s to import, so it is imported here, when the first PDF
is made, never at app start (`preload()` is for processes that make PDFs).
"""

import mimetypes
from pathlib import Path

from flask import current_app

# Templates link static files as "/static/...": they resolve against this base,
# which no real request can reach, so the fetcher knows they are ours.
BASE_URL = "https://touchline.invalid/"
_STATIC_PREFIX = BASE_URL + "static/"


class RefusedURL(ValueError):
    """A document asked for something other than one of our static files."""


def preload() -> None:
    """Import WeasyPrint now (a PDF worker's start-up), not on the first request."""
    import weasyprint  # noqa: F401


def render_pdf(html: str, static_folder: str | None = None) -> bytes:
    """The PDF of an HTML document whose links to static files are "/static/..."."""
    import weasyprint

    folder = Path(static_folder or current_app.static_folder).resolve()
    fetcher = _static_only_fetcher(folder)
    document = weasyprint.HTML(string=html, base_url=BASE_URL, url_fetcher=fetcher)
    return document.write_pdf(pdf_tags=True)


def static_file_for(url: str, folder: Path) -> Path:
    """The file a URL names inside `folder`; RefusedURL for anything else."""
    if not url.startswith(_STATIC_PREFIX):
        raise RefusedURL(f"PDF rendering fetches only the project's static files, not {url[:200]}")
    relative = url[len(_STATIC_PREFIX) :].split("?", 1)[0].split("#", 1)[0]
    path = (folder / relative).resolve()
    if not path.is_relative_to(folder) or not path.is_file():
        raise RefusedURL(f"no static file {relative[:200]!r}")
    return path


def _static_only_fetcher(folder: Path):
    """A WeasyPrint fetcher (its class needs WeasyPrint imported) for `folder`."""
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class StaticOnlyFetcher(URLFetcher):
        def fetch(self, url, headers=None):
            if url.startswith("data:"):  # inline, nothing is fetched
                return super().fetch(url, headers)
            path = static_file_for(url, folder)
            media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": media_type})

    return StaticOnlyFetcher(allowed_protocols=("https", "data"))
