"""Settings, read from the environment so one build runs anywhere.

Every setting is documented in README.md; `test_config` passed to the factory
overrides any of them.
"""

import os

WEBHOOK_SECRET_PREFIX = "TOUCHLINE_WEBHOOK_SECRET_"


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
    }


def normalise_database_url(url: str) -> str:
    """Accept the `postgres://` and `postgresql://` spellings hosts hand out.

    Both mean the psycopg 3 driver here, the only PostgreSQL driver installed.
    """
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
