"""Where the meetings of a calendar meet the database.

MeetingWriter takes a batch's MeetingProfiles (connectors.ical) and
answers with an Outcome per record, as the other writers do. Each attendee
outside our own domain is resolved on its own, through contacts' addresses
and the `email` and `domain` identities (crm.identities): a meeting whose
attendees find no client waits `unmatched` under their addresses and
domains, so mapping one replays it; one whose attendees belong to several
clients is rejected naming them (a meeting belongs to one client). Any other
is planned for its client (crm.meetings.operations), or brought up to date
when the calendar moved it; a logged meeting is history and is kept.
Flushes; the pipeline commits.
"""

from sqlalchemy import select

from connectors.base import MeetingProfile
from connectors.writers import ACCEPTED, Outcome, Writer
from crm.identities import ClientHints
from crm.meetings.models import Meeting
from crm.meetings.operations import (
    MeetingError,
    cancel_planned,
    create_meeting,
    update_planned,
)
from crm.models import Client

ORIGIN = "ical"


class MeetingWriter(Writer):
    """Plans each meeting for the one client its attendees find; a meeting
    teaches no identities (`new_hints` stays empty)."""

    def write(self, items: list[tuple[int, list[MeetingProfile]]]) -> dict[int, Outcome]:
        self.resolver.prefetch(
            ClientHints(emails=(email,))
            for _, meetings in items
            for meeting in meetings
            for email in meeting.hints.emails
        )
        outcomes = {}
        for index, meetings in items:
            for meeting in meetings:
                try:
                    outcome = self._write(meeting)
                except MeetingError as error:
                    outcome = Outcome("rejected", str(error), error.field)
                if outcome is not ACCEPTED:
                    break
            outcomes[index] = outcome
        return outcomes

    def _write(self, profile: MeetingProfile) -> Outcome:
        found: dict[int, str] = {}
        for email in profile.hints.emails:
            client_id = self.resolver.resolve(ClientHints(emails=(email,)))
            if client_id is not None:
                found.setdefault(client_id, email)
        if not found:
            reason = f"no client found for {profile.hints.describe()}"
            return Outcome("unmatched", reason, hints=profile.hints.pairs())
        if len(found) > 1:
            whose = "; ".join(
                f"{email} is {self.session.get(Client, client_id).slug}'s"
                for client_id, email in sorted(found.items())
            )
            return Outcome(
                "rejected",
                f"attendees: belong to several clients ({whose}); a meeting belongs to one "
                "client: plan it by hand on that client's page",
                "attendees",
            )
        [client_id] = found
        existing = self.session.scalar(
            select(Meeting).where(
                Meeting.origin == ORIGIN, Meeting.external_id == profile.external_id
            )
        )
        if existing is not None and existing.client_id != client_id:
            return Outcome(
                "rejected",
                f"attendees: the meeting was imported for {existing.client.slug}, and its "
                f"attendees now find another client",
                "attendees",
            )
        if profile.cancelled:
            if existing is not None and cancel_planned(self.session, existing):
                return ACCEPTED
            return Outcome("skipped", "a cancelled event, not planned here")
        data = {
            "kind": profile.kind,
            "title": profile.title,
            "starts_at": profile.starts_at,
            "ends_at": profile.ends_at,
            "attendees": profile.attendees,
            "agenda": profile.agenda,
            "owner": profile.owner,
            "external_id": profile.external_id,
        }
        if existing is None:
            client = self.session.get(Client, client_id)
            actor = profile.owner or "calendar import"
            create_meeting(self.session, client, data, actor=actor, origin=ORIGIN)
            return ACCEPTED
        if update_planned(self.session, existing, data):
            return ACCEPTED
        return Outcome("duplicate", f"meeting {profile.external_id} is already up to date")
