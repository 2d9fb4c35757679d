"""Settings, read from the environment so one build runs anywhere.

Every setting is documented in README.md; `test_config` passed to the factory
overrides any of them.
"""

import os

WEBHOOK_SECRET_PREFIX = "TOUCHLINE_WEBHOOK_SECRET_"
TIER_GUIDANCE_PREFIX = "TOUCHLINE_TIER_GUIDANCE_"

# How staff should handle a client of each tier, shown on the pre-contact card.
TIER_GUIDANCE = {
    "new": "New client: offer links and quick how-tos, and check that everything we set up works.",
    "standard": "Standard client: get to the point.",
    "problem": "Problem client: resolve fast or escalate; do not leave anything open.",
    "key": "Key client: resolve fast or escalate to the account manager.",
}
# When the clients' offices are open, in each client's own time zone.
BUSINESS_HOURS = "Mon-Fri 09:00-17:30"


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def from_environment(instance_path: str) -> dict:
    default_db = "sqlite:///" + os.path.join(instance_path, "touchline.db")
    return {
        "SECRET_KEY": os.environ.get("SECRET_KEY", "dev-only-not-secret"),
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(
            os.environ.get("DATABASE_URL", default_db)
        ),
        # Records per transaction when ingesting: a crash loses at most one
        # uncommitted batch, which a rerun then completes.
        "INGEST_BATCH_SIZE": _int("TOUCHLINE_INGEST_BATCH_SIZE", 5000),
        "SQLITE_BUSY_TIMEOUT_MS": _int("TOUCHLINE_SQLITE_BUSY_TIMEOUT_MS", 5000),
        # Bodies above this get 413 before they are read.
        "WEBHOOK_MAX_BYTES": _int("TOUCHLINE_WEBHOOK_MAX_BYTES", 5 * 1024 * 1024),
        # connector name -> shared secret; a connector without one refuses
        # webhooks rather than taking them unsigned.
        "WEBHOOK_SECRETS": {
            name[len(WEBHOOK_SECRET_PREFIX) :].lower(): value
            for name, value in os.environ.items()
            if name.startswith(WEBHOOK_SECRET_PREFIX) and value
        },
        # tier -> handling guidance; TOUCHLINE_TIER_GUIDANCE_KEY replaces the key tier's.
        "TIER_GUIDANCE": {
            tier: os.environ.get(TIER_GUIDANCE_PREFIX + tier.upper()) or text
            for tier, text in TIER_GUIDANCE.items()
        },
        # e.g. "Mon-Fri 09:00-17:30" or "Mon-Thu 08:00-17:00; Fri 08:00-13:00",
        # read in each client's time zone (see crm.timeline.hours).
        "BUSINESS_HOURS": os.environ.get("TOUCHLINE_BUSINESS_HOURS") or BUSINESS_HOURS,
        # Paper for the PDFs (briefings, the portfolio report): "A4" or "Letter".
        "PDF_PAGE_SIZE": os.environ.get("TOUCHLINE_PDF_PAGE_SIZE") or "A4",
        # A briefing flags a ticket open this many days or more.
        "BRIEFING_STALE_TICKET_DAYS": _int("TOUCHLINE_BRIEFING_STALE_TICKET_DAYS", 30),
    }


def normalise_database_url(url: str) -> str:
    """Accept the `postgres://` and `postgresql://` spellings hosts hand out.

    Both mean the psycopg 3 driver here, the only PostgreSQL driver installed.
    """
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
