"""Connectors by name: `flask ingest NAME` and later webhooks look them up here."""

from connectors.base import Connector

_CONNECTORS: dict[str, type[Connector]] = {}


def register(cls: type[Connector]) -> type[Connector]:
    """Class decorator: make a connector available under its `name`."""
    if cls.name in _CONNECTORS and _CONNECTORS[cls.name] is not cls:
        raise ValueError(f"two connectors are named {cls.name!r}")
    _CONNECTORS[cls.name] = cls
    return cls


def get(name: str) -> Connector:
    try:
        return _CONNECTORS[name]()
    except KeyError:
        raise LookupError(f"no connector named {name!r}; known: {', '.join(names())}") from None


def names() -> list[str]:
    return sorted(_CONNECTORS)
