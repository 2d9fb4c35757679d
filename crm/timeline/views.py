"""The client page (card, timeline, log a touch) and the thread page."""

from flask import Blueprint

bp = Blueprint("timeline", __name__)
