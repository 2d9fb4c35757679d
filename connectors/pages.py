"""Pages over the ingest: the unmatched queue (/unmatched) and runs (/runs)."""

from flask import Blueprint

bp = Blueprint("ingest", __name__)
