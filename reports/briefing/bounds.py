"""A briefing stays a briefing, a few pages, whatever the client's history.

A client with a million events finished 8,443 pieces of work in a quarter and
may have ten thousand alerts firing: listed whole, its briefing was 1.58 MB
of HTML and a 178-page PDF. What the meeting needs is the most important few
of each list and the size of the rest, with a link to the full list (the
client's paged threads list, or its timeline filtered to the period):

- flags: critical alerts of one check on one device are one line with their
  count (the threads are one problem, told once), then the first SHOWN_FLAGS
  of the ranked list; the health score, the aging table and the severity
  counts still weigh every flag;
- each talking-point list: its first SHOWN_POINTS (the lists come ordered:
  newest work first, soonest renewal first).

Applied once the briefing is built, so the page, the PDF, the API and the
batches all get the same bounded briefing.
"""

from dataclasses import replace
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from reports.briefing.model import (
    GROUPED_IDS,
    SEVERITIES,
    SHOWN_FLAGS,
    SHOWN_POINTS,
    Briefing,
    Flag,
)

if TYPE_CHECKING:
    from reports.briefing.census import Census


# Where each talking-point list continues: the client's threads list, filtered.
POINT_LISTS = {
    "work_done": {"state": "closed", "type": "ticket"},
    "deals_won": {"state": "closed", "type": "deal"},
    "renewals_due": {"type": "renewal"},
    "open_quotes": {"type": "deal"},
}


def bound(briefing: Briefing, census: "Census | None" = None) -> None:
    """Cut `briefing`'s lists to their first few, keeping what they counted:
    counted from its flags, or, when it holds only the flags it shows
    (reports.briefing.shown), by the database (`census`)."""
    slug = briefing.client.slug
    counts = dict.fromkeys(SEVERITIES, 0)
    if census is None:
        for flag in briefing.flags:
            counts[flag.severity] += 1
        grouped = group_alerts(briefing.flags)
        lines = len(grouped)
    else:
        for (_, severity), count in census.now.items():
            counts[severity] += count
        grouped = group_alerts(briefing.flags, census.sizes)
        lines = census.lines
    briefing.severity_counts = counts
    briefing.flag_total = sum(counts.values())
    briefing.more_flags = max(0, lines - SHOWN_FLAGS)
    briefing.flags = grouped[:SHOWN_FLAGS]
    briefing.more_flags_url = threads_path(slug)
    points = briefing.talking_points
    for attribute in ("work_done", "deals_won", "renewals_due", "open_quotes", "campaigns"):
        listed = getattr(points, attribute)
        # talking_points may have told only the first few, and counted the rest
        points.totals.setdefault(attribute, len(listed))
        setattr(points, attribute, listed[:SHOWN_POINTS])
        if attribute in POINT_LISTS:
            points.more_urls[attribute] = threads_path(slug, **POINT_LISTS[attribute])


def group_alerts(flags: list[Flag], sizes: dict | None = None) -> list[Flag]:
    """`flags` with the critical alerts of one check on one device made one
    flag, at the place of its longest-waiting alert (the list stays ranked).
    `sizes`: (title, device) -> the alerts of a group, when `flags` hold
    only its first few (reports.briefing.shown)."""
    groups: dict[tuple, list[Flag]] = {}
    for flag in flags:
        if flag.kind == "critical_alert":
            groups.setdefault((flag.title, flag.device), []).append(flag)
    out = []
    for flag in flags:
        if flag.kind != "critical_alert":
            out.append(flag)
            continue
        members = groups.pop((flag.title, flag.device), None)
        if members is None:  # already told with its group
            continue
        count = (sizes or {}).get((flag.title, flag.device), len(members))
        if count == 1:
            out.append(flag)
            continue
        oldest = members[0]
        ids = [event_id for member in members for event_id in member.event_ids][:GROUPED_IDS]
        detail = f"{count} alerts of this check are firing; the oldest: {oldest.detail}"
        out.append(replace(oldest, detail=detail, count=count, event_ids=ids))
    return out


def threads_path(slug: str, **query) -> str:
    """The client's threads list (open ones unless `state` says otherwise)."""
    return f"/clients/{slug}/threads" + (f"?{urlencode(query)}" if query else "")
