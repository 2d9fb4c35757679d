"""Rows of a frame as plain records, and the events of each thread in an events frame."""

import functools
from collections import defaultdict, namedtuple

import pandas as pd


@functools.cache
def _record_type(columns: tuple[str, ...]):
    return namedtuple("Row", columns)


def records(frame: pd.DataFrame) -> list:
    """The frame's rows as named tuples (times as Timestamps, NaT when missing).

    A briefing walks a few dozen rows at a time; pandas' own row access costs
    more per row than the whole analysis of a column, so rows are read here
    once, column by column.
    """
    columns = tuple(frame.columns)
    row = _record_type(columns)
    return [row(*values) for values in zip(*(frame[c].tolist() for c in columns), strict=True)]


class ThreadEvents:
    """Thread (type, key) -> its events in the frame, oldest first, as records.

    Built in one pass over two columns: a briefing asks for a few dozen
    threads among thousands, and grouping the frame would cost more.
    """

    def __init__(self, events: pd.DataFrame):
        positions: dict[tuple[str, str], list[int]] = defaultdict(list)
        thread_types, thread_keys = events["thread_type"].tolist(), events["thread_key"].tolist()
        for position, (thread_type, key) in enumerate(zip(thread_types, thread_keys, strict=True)):
            if key is not None:
                positions[(thread_type, key)].append(position)
        self._positions = positions
        self._columns = {name: events[name].array for name in events.columns}
        self._row = _record_type(tuple(events.columns))

    def rows(self, thread_type: str, key: str) -> list:
        columns = self._columns.values()
        return [
            self._row(*(column[p] for column in columns))
            for p in self._positions.get((thread_type, key), ())
        ]

    def ids(self, thread_type: str, key: str) -> list[int]:
        return [int(row.id) for row in self.rows(thread_type, key)]

    def attribute(self, thread_type: str, key: str, name: str):
        """The latest non-empty value of attribute `name` in the thread, or None."""
        for row in reversed(self.rows(thread_type, key)):
            value = (row.attributes or {}).get(name)
            if value not in (None, ""):
                return value
        return None
