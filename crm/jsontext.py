"""JSON text as Touchline reads it, from any door: files, webhooks, the API, forms.

One decoder, with limits that no real record comes near and that keep a
hostile one from costing more than a rejection: a value nested deeper than
MAX_DEPTH, or a number of more than MAX_DIGITS digits, is refused with a
`json.JSONDecodeError` that says which, like any other malformed JSON, so
every caller that handles bad JSON (a rejected record, a 400) handles these
too. Without them, a line nested 1,000 deep raised RecursionError and a
5,000-digit integer ValueError, which no caller expected: a whole import
failed, and API writes answered 500.

Numbers with a fraction are exact Decimals, never floats (money stays money).
"""

import json
from decimal import Decimal

# Stripe's events, the deepest records we read, nest about eight levels.
MAX_DEPTH = 64
# Money fits in 18 digits, ids in 40; a number longer than this is no value.
MAX_DIGITS = 100


class JSONLimitError(json.JSONDecodeError):
    """Valid JSON that is past one of the limits."""


def _number(parse):
    def parse_checked(text: str):
        if len(text) > MAX_DIGITS:
            raise _TooLong(text)
        return parse(text)

    return parse_checked


class _TooLong(ValueError):
    pass


_DECODER = json.JSONDecoder(parse_float=_number(Decimal), parse_int=_number(int))


def loads(text: str | bytes):
    """The value of a JSON text, or json.JSONDecodeError saying what is wrong."""
    if isinstance(text, bytes | bytearray):
        text = text.decode("utf-8")
    try:
        value = _DECODER.decode(text)
    except _TooLong as error:
        position = max(text.find(str(error)), 0)
        raise JSONLimitError(
            f"holds a number of more than {MAX_DIGITS} digits", text, position
        ) from None
    except RecursionError:
        raise _too_deep(text) from None
    if _deeper_than(value, MAX_DEPTH):
        raise _too_deep(text)
    return value


def _too_deep(text: str) -> JSONLimitError:
    return JSONLimitError(f"is nested more than {MAX_DEPTH} levels deep", text, 0)


def _deeper_than(value, limit: int) -> bool:
    """Whether arrays and objects nest more than `limit` levels, walked
    without recursion (the walk must not fail the way the decoder did)."""
    if not isinstance(value, dict | list):
        return False
    level = [value]
    depth = 1
    while level:
        if depth > limit:
            return True
        below = []
        for container in level:
            items = container.values() if isinstance(container, dict) else container
            below.extend(item for item in items if isinstance(item, dict | list))
        level = below
        depth += 1
    return False
