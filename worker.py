"""What `celery -A worker worker` loads: the app, configured from the
environment like the web processes, and its Celery app with every task."""

from factory import create_app

flask_app = create_app()
celery = flask_app.extensions["celery"]
