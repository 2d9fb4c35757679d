"""Meetings with clients: planned (by hand, API, calendar import), then logged
onto the timeline with their action items as commitments. Business logic
lives in `operations.py`; views and the API parse and render."""

from flask import Flask


def init_app(app: Flask) -> None:
    from crm import api
    from crm.extensions import db
    from crm.meetings.api import blp
    from crm.meetings.operations import client_meetings, next_meetings
    from crm.meetings.views import bp

    app.register_blueprint(bp)
    api.register(app, blp)

    @app.context_processor
    def _next_meetings() -> dict:
        """`next_meetings(ids, now)` for the card and the directory,
        `recent_meetings(client_id)` for the client page's side panel."""
        return {
            "next_meetings": lambda ids, now: next_meetings(db.session, ids, now),
            "recent_meetings": lambda client_id: client_meetings(db.session, client_id, limit=5),
        }
