"""Newsletter campaigns, addressed the way email tools do it: by address.

Recipients are the clients' contacts, plus a generic `info@` mailbox at some
clients that no contact owns (it resolves through the client's domain). A
prospect nobody has entered as a client also gets the last campaign: those
records wait in the inbox as `unmatched` until someone maps them.
"""

from datetime import timedelta

from demo.roster import DemoClient
from demo.world import Calendar, record, stream, token

# (subject, days ago) from oldest to newest.
CAMPAIGNS = (
    ("Is your backup really working? The 3-2-1 rule", 340),
    ("Phishing season: five things to look for", 285),
    ("Microsoft 365 tips your team will use", 230),
    ("Faster Wi-Fi for the summer", 170),
    ("Password managers for small teams", 110),
    ("Hardware refresh: plan before year end", 55),
    ("New: security awareness training", 12),
)
UNKNOWN_PROSPECT = "lena.fischer@fischer-bau.example"
SENDER_URL = "https://touchline.example/news"


def marketing_events(roster: list[DemoClient], seed: int, calendar: Calendar) -> list[dict]:
    rng = stream(seed, "marketing")
    events: list[dict] = []
    recipients = []
    for client in roster:
        addresses = [contact.email for contact in client.contacts]
        if rng.random() < 0.3:
            addresses.append(f"info@{client.domain}")
        recipients.append((client, addresses))
    unsubscribed: set[str] = set()
    for number, (subject, days_ago) in enumerate(CAMPAIGNS, start=1):
        campaign = f"NL-{number:02d}-{token(rng, 24)}"
        sent_minute = 9 * 60 + rng.randrange(60)
        for client, addresses in recipients:
            if client.customer_days < days_ago:
                continue
            sent = calendar.utc(days_ago, sent_minute, client.zone)
            for email in addresses:
                if email not in unsubscribed:
                    events += _reactions(rng, campaign, subject, email, sent, unsubscribed)
        if number == len(CAMPAIGNS):
            sent = calendar.utc(days_ago, sent_minute, "Europe/Berlin")
            events += _prospect(rng, campaign, subject, sent)
    return events


def _reactions(rng, campaign, subject, email, sent, unsubscribed: set) -> list[dict]:
    """Sent, then maybe bounced, or opened, clicked and rarely unsubscribed."""
    common = {"email": email, "campaign": campaign}
    events = [record(f"mc-{token(rng)}", "campaign.sent", sent, title=subject, **common)]
    if rng.random() < 0.03:
        bounced = sent + timedelta(minutes=2)
        events.append(
            record(
                f"mc-{token(rng)}",
                "email.bounced",
                bounced,
                title="Mailbox unavailable",
                bounce_type="hard",
                **common,
            )
        )
        return events
    if rng.random() > 0.45:
        return events
    opened = sent + timedelta(minutes=rng.randint(5, 2 * 24 * 60))
    events.append(record(f"mc-{token(rng)}", "email.opened", opened, title=subject, **common))
    roll = rng.random()
    if roll < 0.3:
        clicked = opened + timedelta(minutes=rng.randint(1, 10))
        events.append(
            record(
                f"mc-{token(rng)}",
                "email.clicked",
                clicked,
                title=subject,
                url=f"{SENDER_URL}/{campaign.lower()}",
                **common,
            )
        )
    elif roll > 0.985:
        unsubscribed.add(email)
        events.append(
            record(
                f"mc-{token(rng)}",
                "email.unsubscribed",
                opened + timedelta(minutes=3),
                title="Unsubscribed from the newsletter",
                **common,
            )
        )
    return events


def _prospect(rng, campaign, subject, sent) -> list[dict]:
    common = {"email": UNKNOWN_PROSPECT, "campaign": campaign, "title": subject}
    opened = sent + timedelta(hours=3)
    return [
        record(f"mc-{token(rng)}", "campaign.sent", sent, **common),
        record(f"mc-{token(rng)}", "email.opened", opened, **common),
        record(
            f"mc-{token(rng)}",
            "email.clicked",
            opened + timedelta(minutes=2),
            url=f"{SENDER_URL}/{campaign.lower()}",
            **common,
        ),
    ]
