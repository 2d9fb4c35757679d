"""The domain: clients, their identities and the timeline of every touch.

Models and services here never import `connectors` or `reports`; those build
on this package. The app factory (`factory.create_app`) is the one place
that wires all three together.
"""
