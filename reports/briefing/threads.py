"""Rows of a frame as plain records, and the events of each thread in an events frame."""

import functools
from bisect import bisect_left
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

    Built in one pass over two columns: a briefing asks for a few hundred
    threads among thousands, and grouping the frame would cost more. Values
    are read from plain lists (a pandas array costs a microsecond or more per
    item); times stay a pandas array, boxed as Timestamps only when asked for.

    A briefing reads the same frame at two moments (now and the start of the
    period). Its events are in time order, so what existed at a moment is a
    leading part of the frame: `until(count)` gives the threads of the first
    `count` events without going over the frame again.
    """

    def __init__(self, events: pd.DataFrame):
        positions: dict[tuple[str, str], list[int]] = defaultdict(list)
        thread_types, thread_keys = events["thread_type"].tolist(), events["thread_key"].tolist()
        for position, (thread_type, key) in enumerate(zip(thread_types, thread_keys, strict=True)):
            if key is not None:
                positions[(thread_type, key)].append(position)
        self._positions = positions
        self._columns = [
            series.array if isinstance(series.dtype, pd.DatetimeTZDtype) else series.tolist()
            for _, series in events.items()
        ]
        self._ids = events["id"].tolist()
        self._row = _record_type(tuple(events.columns))
        self._count = len(events)
        self._rows: dict[tuple[str, str], list] = {}

    def until(self, count: int) -> "ThreadEvents":
        """The same threads, cut to the frame's first `count` events."""
        if count >= self._count:
            return self
        cut = object.__new__(ThreadEvents)
        cut.__dict__.update(self.__dict__)
        cut._count, cut._rows = count, {}
        return cut

    def _positions_of(self, thread_type: str, key: str) -> list[int]:
        positions = self._positions.get((thread_type, key), ())
        if positions and positions[-1] >= self._count:
            return positions[: bisect_left(positions, self._count)]
        return positions

    def rows(self, thread_type: str, key: str) -> list:
        found = self._rows.get((thread_type, key))
        if found is None:
            columns = self._columns
            found = [
                self._row(*(column[p] for column in columns))
                for p in self._positions_of(thread_type, key)
            ]
            self._rows[(thread_type, key)] = found
        return found

    def ids(self, thread_type: str, key: str) -> list[int]:
        ids = self._ids
        return [int(ids[p]) for p in self._positions_of(thread_type, key)]

    def attribute(self, thread_type: str, key: str, name: str):
        """The latest non-empty value of attribute `name` in the thread, or None."""
        for row in reversed(self.rows(thread_type, key)):
            value = (row.attributes or {}).get(name)
            if value not in (None, ""):
                return value
        return None
