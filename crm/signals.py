"""Signals the domain sends and other packages act on, so that crm/ never
imports them: connectors/ replays the records waiting for an identity when
one is mapped, wherever it was mapped (a client form, the API, the CLI)."""

from blinker import Namespace

_signals = Namespace()

# Sent after identities are mapped to a client and flushed, before the caller
# commits. Keyword arguments: pairs (list of (system, key)), started_by (str).
# Receivers return what they did; `send` hands back (receiver, result) pairs.
identities_mapped = _signals.signal("identities-mapped")
