"""NinjaOne's alerts and activities as alert threads (connectors.ninjaone).

A triggered condition is a *series* of activities sharing its `seriesUid`
(NinjaOne: "Activity series UID (job/condition UID)"), which is also the
`uid` of the open alert `GET /v2/alerts` lists. Each series is an alert
thread keyed by that uid, every step at the record's own time:

  activity CONDITION TRIGGERED     alert.raised at `activityTime`, id
                                   `SERIES:triggered@SECONDS`
  alert (GET /v2/alerts)           alert.raised at `createTime`, the same id: the
                                   activity and the list answer are one raise
  activity CONDITION ACKNOWLEDGED  alert.updated (acknowledged) at `activityTime`
  activity CONDITION RESET         alert.resolved at `activityTime`

Every raise names its check (`alertname`: the condition's message code,
`data.message.code`, else its `sourceType`, `sourceName` or `sourceConfigUid`)
and its device (`instance`: `device ID`), so the same check on the same device
firing three times in 30 days is a recurring alert, as for Alertmanager.
Severity CRITICAL, MAJOR, MODERATE, MINOR is the priority critical, high,
medium, low (a critical alert is flagged).

Patch and backup runs are activities too. A failed one (a status code ending
FAILED, FAILURE or ABORTED, or `activityResult` FAILURE) raises the device's
patch (or software patch, or backup) alert, one thread per device and kind
(`ID:patch`), each failure a raise that recurrences count; the next
successful run (installed, completed, succeeded) resolves it. Any other
activity (scripts, logins, system changes) is skipped by its type and status.
"""

from datetime import datetime

from connectors.accounting import Reader
from connectors.base import CanonicalEvent, RecordError, Skip
from crm.identities import ClientHints

ORIGIN = "ninjaone"
DEVICE_SYSTEM = "ninjaone-device"  # a NinjaOne device id, registered by device records
SEVERITY = {"CRITICAL": "critical", "MAJOR": "high", "MODERATE": "medium", "MINOR": "low"}
# Activity types of patch and backup runs, by the kind of alert they raise.
RUNS = {
    "PATCH_MANAGEMENT": "patch",
    "SOFTWARE_PATCH_MANAGEMENT": "software-patch",
    "NINJA_BACKUP": "backup",
    "CLOUDBERRY_BACKUP": "backup",
    "CLOUDBERRY": "backup",
    "SHADOWPROTECT": "backup",
    "IMAGEMANAGER": "backup",
}
RUN_TITLES = {"patch": "OS patching", "software-patch": "Software patching", "backup": "Backup"}
FAILED = ("_FAILED", "_FAILURE", "_ABORTED")
SUCCEEDED = ("_INSTALLED", "_APPLY_PATCH_COMPLETED", "_BACKUPJOB_COMPLETED", "_SUCCEEDED")


def device_hints(f: Reader) -> tuple[ClientHints, tuple[tuple[str, str], ...], dict]:
    """Whose an alert or activity is, and what it says of its device: the
    organization of its expanded `device`, else the device id, which the
    device's own record registers. An expanded device also teaches its id."""
    device_id = f.text("deviceId", required=True)
    expanded = f.part("device")
    org_id = expanded.text("organizationId") or expanded.part("references.organization").text("id")
    identities = [(DEVICE_SYSTEM, device_id)]
    aliases: tuple[tuple[str, str], ...] = ()
    if org_id:
        identities.insert(0, (ORIGIN, org_id))
        aliases = ((DEVICE_SYSTEM, device_id),)
    about = {
        "device_id": device_id,
        "device_name": expanded.text("systemName") or expanded.text("displayName"),
        "organization": expanded.part("references.organization").text("name"),
    }
    return ClientHints(identities=tuple(identities)), aliases, about


def event(f: Reader, kind: str, external_id: str, at: datetime, **fields) -> CanonicalEvent:
    """An event of a NinjaOne alert or activity, placed by its device."""
    hints, aliases, about = device_hints(f)
    return CanonicalEvent(
        origin=ORIGIN,
        external_id=external_id[:200],
        kind=kind,
        occurred_at=at,
        hints=hints,
        aliases=aliases,
        attributes={k: v for k, v in about.items() if v} | fields.pop("attributes", {}),
        **fields,
    )


def _seconds(at: datetime) -> int:
    """A raise's time as its id gives it: whole seconds, as `/v2/alerts` has them."""
    return int(at.timestamp())


def _check(f: Reader) -> str:
    """The condition a raise is of, as its records name it alike."""
    return (
        f.part("data.message").text("code")
        or f.text("sourceType")
        or _named(f.text("sourceName"))
        or f.text("sourceConfigUid")
        or "NinjaOne condition"
    )


def _named(name: str | None) -> str | None:
    """A source name, but not a metric target like `_average_`."""
    return name if name and not (name.startswith("_") and name.endswith("_")) else None


def _raised(f: Reader, series: str, at: datetime, title: str) -> CanonicalEvent:
    check = _check(f)
    raised = event(
        f, "alert.raised", f"{series}:triggered@{_seconds(at)}", at,
        title=title[:500], thread_key=series[:200], status="firing",
        priority=SEVERITY.get(f.text("severity") or ""), category=check[:80],
        attributes={"alertname": check, "source_config": f.text("sourceConfigUid")},
    )  # fmt: skip
    raised.attributes["instance"] = f"device {raised.attributes['device_id']}"
    return raised


def _title(f: Reader) -> str:
    return f.text("message") or f.text("subject") or f.text("sourceName") or "NinjaOne alert"


def open_alert(f: Reader) -> list[CanonicalEvent]:
    """An alert `GET /v2/alerts` lists: open, raised at its creation."""
    series = f.text("uid", required=True)
    return [_raised(f, series, f.time("createTime", required=True), _title(f))]


def activity(f: Reader) -> list[CanonicalEvent]:
    kind = f.text("activityType", required=True)
    status = f.text("statusCode", required=True)
    at = f.time("activityTime", required=True)
    if kind == "CONDITION":
        return _condition(f, status, at)
    if kind in RUNS:
        return _run(f, RUNS[kind], status, at)
    raise Skip(f"ninjaone activity {kind} {status} is not mapped; mapped: CONDITION, "
               "patch and backup runs")  # fmt: skip


def _condition(f: Reader, status: str, at: datetime) -> list[CanonicalEvent]:
    series = f.text("seriesUid", required=True)
    title = _title(f)
    if status == "TRIGGERED":
        return [_raised(f, series, at, title)]
    if status == "RESET":
        return [
            event(
                f, "alert.resolved", f"{series}:reset@{_seconds(at)}", at,
                title=title[:500], thread_key=series[:200], status="resolved",
            )
        ]  # fmt: skip
    if status == "ACKNOWLEDGED":
        user = f.text("userId")
        who = f"ninjaone user {user}" if user else None
        return [
            event(
                f, "alert.updated", f"{series}:acknowledged@{_seconds(at)}", at,
                title=f"{title} (acknowledged)"[:500], thread_key=series[:200],
                status="acknowledged", actor=who, assignee=who,
            )
        ]  # fmt: skip
    raise Skip(f"ninjaone condition status {status!r} is not mapped; "
               "mapped: TRIGGERED, ACKNOWLEDGED, RESET")  # fmt: skip


def _run(f: Reader, run: str, status: str, at: datetime) -> list[CanonicalEvent]:
    """A patch or backup run: a failure raises the device's alert of that kind,
    a success resolves it; other steps (started, scanned) are skipped."""
    result = f.text("activityResult")
    if result not in (None, "SUCCESS", "FAILURE", "UNSUPPORTED", "UNCOMPLETED"):
        raise RecordError("activityResult", f"{result!r} is not SUCCESS, FAILURE, "
                          "UNSUPPORTED or UNCOMPLETED")  # fmt: skip
    failed = status.endswith(FAILED) or result == "FAILURE"
    succeeded = not failed and status.endswith(SUCCEEDED) and result in (None, "SUCCESS")
    if not (failed or succeeded):
        raise Skip(f"ninjaone {run} activity {status} is neither a failure nor a success")
    activity_id = f.text("id", required=True)
    device_id = f.text("deviceId", required=True)
    what = RUN_TITLES[run]
    detail = f.text("message")
    title = f"{what} {'failed' if failed else 'succeeded'}: {f.text('sourceName') or status}"
    step = event(
        f, "alert.raised" if failed else "alert.resolved", f"activity-{activity_id}", at,
        title=title[:500], detail=detail, thread_key=f"{device_id}:{run}",
        status="firing" if failed else "resolved", category=f"{what} failed"[:80],
        priority=SEVERITY.get(f.text("severity") or "") if failed else None,
        attributes={"status_code": status, "activity_result": result},
    )  # fmt: skip
    if failed:  # what recurrences count by
        step.attributes |= {"alertname": f"{what} failed", "instance": f"device {device_id}"}
    return [step]
