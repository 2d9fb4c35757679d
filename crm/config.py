"""Settings, read from the environment so one build runs anywhere.

Every setting is documented in README.md; `test_config` passed to the factory
overrides any of them.
"""

import os
from collections.abc import Callable
from datetime import timedelta

WEBHOOK_SECRET_PREFIX = "TOUCHLINE_WEBHOOK_SECRET_"
# Signs the session cookie; fine on a laptop, refused when TOUCHLINE_ENV=production.
DEVELOPMENT_SECRET_KEY = "dev-only-not-secret"
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


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be on or off (1/0, true/false, yes/no), not {value!r}")


def _cadence() -> dict[str, int]:
    # Imported here: the rule lives with the meetings, read once at start-up
    # so a wrong setting stops the app rather than a page.
    from crm.meetings.cadence import parse_cadence

    return parse_cadence(os.environ.get("TOUCHLINE_MEETING_CADENCE"))


def from_environment(instance_path: str) -> dict:
    default_db = "sqlite:///" + os.path.join(instance_path, "touchline.db")
    env_name = os.environ.get("TOUCHLINE_ENV", "development").strip().lower()
    return {
        "SECRET_KEY": os.environ.get("SECRET_KEY", DEVELOPMENT_SECRET_KEY),
        # "production" makes cookies secure by default, refuses the development
        # SECRET_KEY and the demo admin.
        "ENV_NAME": env_name,
        # --- accounts and sessions (crm.accounts) ---
        "SESSION_COOKIE_SECURE": _bool("TOUCHLINE_SECURE_COOKIES", env_name == "production"),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # A session ends after this long unused (each request renews it).
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=_int("TOUCHLINE_SESSION_HOURS", 12)),
        # A form's CSRF token is good for as long as its session.
        "WTF_CSRF_TIME_LIMIT": None,
        # Failed sign-ins within the window before more are refused (429): per
        # email, and per address (higher: an office signs in from one address).
        "LOGIN_MAX_FAILURES": _int("TOUCHLINE_LOGIN_MAX_FAILURES", 5),
        "LOGIN_MAX_FAILURES_PER_IP": _int("TOUCHLINE_LOGIN_MAX_FAILURES_PER_IP", 20),
        "LOGIN_WINDOW_MINUTES": _int("TOUCHLINE_LOGIN_WINDOW_MINUTES", 15),
        "PASSWORD_MIN_LENGTH": _int("TOUCHLINE_PASSWORD_MIN_LENGTH", 12),
        # werkzeug's generate_password_hash method; the tests pass a cheap one.
        "PASSWORD_HASH_METHOD": "scrypt",
        # Reverse proxies in front of the app whose X-Forwarded-For/-Proto/-Host
        # to trust (0: none), so rate limits and the audit log see real addresses.
        "PROXY_COUNT": _int("TOUCHLINE_PROXY_COUNT", 0),
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(
            os.environ.get("DATABASE_URL", default_db)
        ),
        # Records per transaction when ingesting: a crash loses at most the
        # uncommitted batches, which a rerun then completes. Bigger batches
        # write faster (fewer commits, each index page written fewer times).
        "INGEST_BATCH_SIZE": _int("TOUCHLINE_INGEST_BATCH_SIZE", 20000),
        # Processes `flask ingest` and `flask demo load` use for one big input
        # (connectors.parallel); web requests and background jobs use one.
        "INGEST_PROCESSES": _int("TOUCHLINE_INGEST_PROCESSES", min(os.cpu_count() or 1, 4)),
        "SQLITE_BUSY_TIMEOUT_MS": _int("TOUCHLINE_SQLITE_BUSY_TIMEOUT_MS", 5000),
        # Bodies above this get 413 before they are read.
        "WEBHOOK_MAX_BYTES": _int("TOUCHLINE_WEBHOOK_MAX_BYTES", 5 * 1024 * 1024),
        # Any request body, above all a file sent to POST /api/v1/ingest/<connector>:
        # a bigger one gets 413 before it is read (Flask's own setting).
        "MAX_CONTENT_LENGTH": _int("TOUCHLINE_MAX_UPLOAD_BYTES", 100 * 1024 * 1024),
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
        # Sums and sorts across currencies convert to this currency (crm.money),
        # at TOUCHLINE_EXCHANGE_RATES, e.g. "EUR=1.08, GBP=1.27, BRL=0.20" (units
        # of the reporting currency per unit); amounts without a rate stay apart.
        "REPORTING_CURRENCY": os.environ.get("TOUCHLINE_REPORTING_CURRENCY") or "USD",
        "EXCHANGE_RATES": os.environ.get("TOUCHLINE_EXCHANGE_RATES") or "",
        # Paper for the PDFs (briefings, the portfolio report): "A4" or "Letter".
        "PDF_PAGE_SIZE": os.environ.get("TOUCHLINE_PDF_PAGE_SIZE") or "A4",
        # tier -> days between roadmap meetings (crm.meetings.cadence), e.g.
        # "key=91,problem=30,standard=182"; a tier not named has no cadence.
        "MEETING_CADENCE": _cadence(),
        # A briefing flags a ticket open this many days or more.
        "BRIEFING_STALE_TICKET_DAYS": _int("TOUCHLINE_BRIEFING_STALE_TICKET_DAYS", 30),
        # Most briefings one web request makes (ZIP or combined PDF); bigger
        # batches are for `flask briefing --out`.
        "BRIEFING_BATCH_MAX": _int("TOUCHLINE_BRIEFING_BATCH_MAX", 20),
        # --- background jobs (crm.jobs) ---
        # Celery's broker and result store; unset, tasks run in-process.
        "REDIS_URL": os.environ.get("REDIS_URL") or None,
        # The Celery queue the web processes send to and `make worker` reads.
        "CELERY_QUEUE": os.environ.get("TOUCHLINE_CELERY_QUEUE") or "touchline",
        # Seconds before a task whose worker died is handed to another worker;
        # must be longer than the longest task (a big import, a batch of PDFs).
        "CELERY_VISIBILITY_TIMEOUT": _int("TOUCHLINE_CELERY_VISIBILITY_TIMEOUT", 3600),
        "HEARTBEAT_STALE_SECONDS": _int("TOUCHLINE_HEARTBEAT_STALE_SECONDS", 600),
        # A file sent to POST /api/v1/ingest/<connector> bigger than this is
        # ingested by a job (202 and the job) rather than in the request.
        "BACKGROUND_INGEST_BYTES": _int("TOUCHLINE_BACKGROUND_INGEST_BYTES", 1024 * 1024),
        # Mapping an identity that more unmatched records wait for than this
        # replays them in a job rather than in the request.
        "BACKGROUND_REPLAY_RECORDS": _int("TOUCHLINE_BACKGROUND_REPLAY_RECORDS", 2000),
        # Where jobs keep the files they make (default: instance/job-files).
        "JOB_FILES_DIR": os.environ.get("TOUCHLINE_JOB_FILES_DIR") or None,
        # --- serving (crm.logs; gunicorn.conf.py reads its own TOUCHLINE_WEB_*) ---
        "LOG_FORMAT": log_format(),
        "LOG_LEVEL": (os.environ.get("TOUCHLINE_LOG_LEVEL") or "INFO").strip().upper(),
    }


def log_format() -> str:
    """TOUCHLINE_LOG_FORMAT: "json" (one object a line, for a log shipper) by
    default in production, "text" (for people) elsewhere."""
    env_name = os.environ.get("TOUCHLINE_ENV", "development").strip().lower()
    default = "json" if env_name == "production" else "text"
    return (os.environ.get("TOUCHLINE_LOG_FORMAT") or default).strip().lower()


def normalise_database_url(url: str) -> str:
    """Accept the `postgres://` and `postgresql://` spellings hosts hand out.

    Both mean the psycopg 3 driver here, the only PostgreSQL driver installed.
    """
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def read_at_start(blueprint, key: str, read: Callable[[object], object]) -> None:
    """Have `blueprint` read the setting `key` with `read` once, as the app
    registers it: a setting its pages cannot read stops the app at start,
    not the first page that needs it."""
    blueprint.record_once(lambda state: read(state.app.config.get(key)))
