"""Monitoring alerts from the RMM: noise, a few firing now, one that keeps coming back.

Each occurrence of an alert is its own thread, keyed by a fingerprint the way
Alertmanager does it; the device and the check travel in the attributes
`instance` and `alertname`. One `problem` client's NAS fails its backup again
and again over the last month: the recurring alert a briefing should name.
"""

import random

from demo.roster import DemoClient
from demo.world import Calendar, record, stream, token

# alertname -> (severity, what it means)
CHECKS = {
    "DiskSpaceLow": ("warning", "Free disk space is below 10%."),
    "HighCPU": ("warning", "CPU above 90% for 15 minutes."),
    "ServiceDown": ("critical", "A monitored service has stopped."),
    "HostUnreachable": ("critical", "No heartbeat for 10 minutes."),
    "BackupFailed": ("critical", "The last backup job failed."),
    "CertificateExpiring": ("warning", "A TLS certificate expires within 14 days."),
    "MemoryPressure": ("warning", "Memory use above 95%."),
    "RAIDDegraded": ("critical", "A disk in the array has failed."),
    "PatchesMissing": ("info", "Security updates pending for 30 days."),
}
ALERTS_PER_MONTH = {"key": 1.5, "standard": 0.8, "problem": 2.5, "new": 1.0}
RECURRING = ("BackupFailed", "NAS01")
RECURRING_DAYS_AGO = (58, 44, 27, 20, 14, 9, 4)
FIRING_NOW = 3  # unreachable hosts nobody has looked at yet
MINUTES_PER_DAY = 24 * 60


class _Alerts:
    def __init__(self, rng: random.Random, calendar: Calendar):
        self.rng, self.calendar = rng, calendar
        self.events: list[dict] = []

    def occurrence(self, client, instance, alertname, days_ago, *, lasts_minutes):
        """One firing of `alertname` on `instance`; still firing if `lasts_minutes` is None."""
        rng = self.rng
        severity, summary = CHECKS[alertname]
        # Starting before 20:00 UTC, an alert of up to four hours clears before midnight.
        started = rng.randrange(20 * 60)
        fingerprint = token(rng)
        # The severity is the alert's priority, as Alertmanager's connector
        # makes its severity label: where crm.flags reads a critical alert.
        common = {
            "account": client.account,
            "thread": fingerprint,
            "priority": severity,
            "attributes": {"instance": instance, "alertname": alertname, "severity": severity},
        }
        self.events.append(
            record(
                f"am-{token(rng)}",
                "alert.raised",
                self.calendar.utc(days_ago, started, client.zone),
                title=f"{alertname} on {instance}",
                detail=summary,
                **common,
            )
        )
        if lasts_minutes is None:
            return
        self.events.append(
            record(
                f"am-{token(rng)}",
                "alert.resolved",
                self.calendar.utc(
                    days_ago, min(started + lasts_minutes, MINUTES_PER_DAY - 1), client.zone
                ),
                title=f"Resolved: {alertname} on {instance}",
                **common,
            )
        )


def alert_events(roster: list[DemoClient], seed: int, calendar: Calendar) -> list[dict]:
    rng = stream(seed, "rmm")
    alerts = _Alerts(rng, calendar)
    for client in roster:
        expected = ALERTS_PER_MONTH[client.tier] * client.history_days / 30
        for _ in range(round(expected * rng.uniform(0.7, 1.3))):
            days_ago = rng.randint(1, client.history_days)
            still_firing = days_ago <= 2 and rng.random() < 0.3
            alerts.occurrence(
                client,
                rng.choice(client.devices),
                rng.choice(sorted(CHECKS)),
                days_ago,
                lasts_minutes=None if still_firing else rng.randint(3, 240),
            )
    for client in rng.sample(roster, FIRING_NOW):
        alerts.occurrence(
            client, rng.choice(client.devices), "HostUnreachable", 1, lasts_minutes=None
        )
    recurring = rng.choice([client for client in roster if client.tier == "problem"])
    alertname, device = RECURRING
    instance = next(d for d in recurring.devices if d.endswith(f"-{device}"))
    for days_ago in RECURRING_DAYS_AGO:
        alerts.occurrence(
            recurring, instance, alertname, days_ago, lasts_minutes=rng.randint(40, 180)
        )
    return alerts.events
