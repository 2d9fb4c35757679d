"""Security headers on every response, and a Content-Security-Policy the
pages satisfy: no inline styles or scripts, nothing from other sites.

One page is different: the API explorer (/api/docs) is flask-smorest's
Swagger UI, served from a CDN and started by an inline script. Its policy
allows that CDN and that one script, by its hash, and nothing else.
"""

import base64
import hashlib
import re
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, request

PAGE_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
    "base-uri": "'none'",
    "object-src": "'none'",
}
EXPLORER_ENDPOINT = "api-docs.openapi_swagger_ui"
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}
# Kept for a year once a browser saw it over HTTPS (only sent with secure cookies on).
HSTS = "max-age=31536000; includeSubDomains"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def init_app(app: Flask) -> None:
    app.after_request(add_security_headers)


def add_security_headers(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    policy = PAGE_POLICY
    if request.endpoint == EXPLORER_ENDPOINT:
        policy = _explorer_policy(response)
    response.headers["Content-Security-Policy"] = "; ".join(
        f"{name} {value}" for name, value in policy.items()
    )
    if current_app.config["SESSION_COOKIE_SECURE"]:
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    if request.endpoint not in ("static", "api_docs_assets"):
        # Client history must not linger in shared caches or the browser's.
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def _explorer_policy(response: Response) -> dict[str, str]:
    parts = urlsplit(current_app.config.get("OPENAPI_SWAGGER_UI_URL") or "")
    cdn = f"{parts.scheme}://{parts.netloc}" if parts.netloc else ""
    scripts = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"
        for body in _INLINE_SCRIPT.findall(response.get_data(as_text=True))
    )
    return PAGE_POLICY | {
        "script-src": " ".join(filter(None, ("'self'", cdn, scripts))),
        # Swagger UI styles its widgets inline as it draws them.
        "style-src": " ".join(filter(None, ("'self'", cdn, "'unsafe-inline'"))),
        "img-src": " ".join(filter(None, ("'self' data:", cdn))),
    }
