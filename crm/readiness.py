"""Whether this process can serve: its database answers and, when the app is
configured with Redis (REDIS_URL, the job queue), Redis answers a PING.

A load balancer sends traffic only to a ready process; /health says only that
the process is alive. Failures name the dependency and the kind of error,
never its address or credentials.
"""

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from crm.extensions import db

# A PING that takes longer than this counts as down: /ready must answer fast.
REDIS_TIMEOUT_SECONDS = 2.0


def check_database() -> dict:
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        db.session.rollback()
        return {"ok": False, "error": type(error).__name__}
    return {"ok": True}


def check_redis(url: str) -> dict:
    # Imported here: an app without Redis configured never needs the package.
    import redis

    connection = redis.Redis.from_url(
        url,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
    )
    try:
        connection.ping()
    except (redis.RedisError, OSError) as error:
        return {"ok": False, "error": type(error).__name__}
    finally:
        connection.close()
    return {"ok": True}


def readiness(redis_url: str | None) -> tuple[bool, dict[str, dict]]:
    """(ready, {dependency: result}) for every dependency this app uses."""
    checks = {"database": check_database()}
    if redis_url:
        checks["redis"] = check_redis(redis_url)
    return all(check["ok"] for check in checks.values()), checks
