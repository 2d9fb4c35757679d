"""Entry point for `flask run`, `flask db ...` and WSGI servers."""

import gc

from factory import create_app

app = create_app()

# Everything imported and built so far lives as long as the process. Moving it
# out of the collector's reach makes the full collections that do happen (about
# one per thousand requests) cheap, which keeps the slowest page views near the
# typical ones (bench/timeline.py's p95).
gc.freeze()
