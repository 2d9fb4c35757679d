"""What a source is (after Airbyte's and Singer's protocol): a connection
check, and streams that each yield pages from a saved state.

A stream declares its records' primary key and the field its cursor follows,
and yields `Page`s: the vendor's response body, exactly as the connector of
the same name reads it (connectors/zendesk.py, connectors/stripe.py map
every record; a source writes no mapping of its own), and the stream's state
once that page is stored. A source never touches the database: the sync
(connectors.connections.sync) hands each page to the pipeline and saves the
state in the same commit.
"""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from connectors.connections import oauth
from connectors.connections.transport import ATTEMPTS, SourceError, Transport


@dataclass(frozen=True)
class Page:
    body: bytes
    state: dict
    # How many records the page holds, for progress.
    count: int
    filename: str = "page.json"


class Stream:
    name: ClassVar[str]
    primary_key: ClassVar[str] = "id"
    cursor_field: ClassVar[str]

    def __init__(self, api):
        """`api`: the source's client of the vendor's API (`Source.connect`),
        which every stream of the source reads through."""
        self.api = api

    def pages(self, state: dict) -> Iterator[Page]:
        raise NotImplementedError

    def probe(self) -> None:
        """The cheapest read of this stream (a record at most), for
        `Source.check_connection`; raises SourceError naming what is wrong."""
        raise NotImplementedError

    @classmethod
    def named(cls, name: str, **settings) -> type["Stream"]:
        """A stream of this kind that differs from its siblings only in its
        settings (class attributes it declares: a path, an entity, a key), so
        that a source lists such streams in one table rather than a class each."""
        declared = {key for kind in cls.__mro__ for key in vars(kind).get("__annotations__", {})}
        unknown = sorted(key for key in settings if key not in declared and not hasattr(cls, key))
        if unknown:
            raise TypeError(f"{cls.__name__} declares no {', '.join(unknown)}")
        return type(
            f"{cls.__name__}[{name}]",
            (cls,),
            {"__module__": cls.__module__, "name": name, **settings},
        )


class Source:
    vendor: ClassVar[str]
    # The vendor's own API; None where each account has its own host.
    default_base_url: ClassVar[str | None] = None
    # The credential fields an admin pastes, in form order: name -> label.
    credential_fields: ClassVar[dict[str, str]]
    # OAuth 2 (oauth.PROVIDERS): "required", "optional" (the credential
    # fields serve instead), or None (the vendor offers no OAuth here).
    oauth: ClassVar[str | None] = None
    # The streams, in the order they sync: identities before the events they place.
    stream_classes: ClassVar[tuple[type[Stream], ...]] = ()

    def __init__(
        self,
        base_url: str,
        credentials: dict,
        transport: Transport | None = None,
        on_token=None,
    ):
        missing = self.missing(credentials)
        if missing:
            raise SourceError("credentials", f"credentials: {', '.join(missing)} missing")
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.transport = transport or Transport()
        if self.by_oauth(credentials):
            # Authlib's session adds the bearer token and refreshes it;
            # `on_token` saves each refreshed token.
            attempts = transport.attempts if transport else ATTEMPTS
            session = oauth.session_for(self.vendor, self.base_url, credentials, on_token)
            self.transport = Transport(session, attempts)
        self.api = self.connect(credentials)

    def connect(self, credentials: dict):
        """The client of the vendor's API that the streams read through, on
        `self.base_url` and `self.transport`; raises SourceError where the
        credentials lack what it needs."""
        raise NotImplementedError

    @classmethod
    def by_oauth(cls, credentials: dict) -> bool:
        return cls.oauth == "required" or (
            cls.oauth == "optional" and oauth.uses_oauth(credentials)
        )

    @classmethod
    def missing(cls, credentials: dict) -> list[str]:
        """The credential fields still needed: the OAuth client's, or (where
        OAuth is optional and no client is given) the vendor's own fields."""
        fields = oauth.CLIENT_FIELDS if cls.by_oauth(credentials) else cls.credential_fields
        return [name for name in fields if not credentials.get(name)]

    def __repr__(self) -> str:  # never the credentials
        return f"<{type(self).__name__} {self.base_url}>"

    def check_connection(self) -> None:
        """A cheap read of each stream; raises SourceError naming the first
        that cannot be read (a source whose one read proves them all says so
        by overriding this)."""
        for stream in self.streams():
            stream.probe()

    def streams(self) -> list[Stream]:
        """In the order they sync: identities before the events they place."""
        return [stream(self.api) for stream in self.stream_classes]

    def close(self) -> None:
        self.transport.close()


class AuthorizedSource(Source):
    """A source reached by OAuth only, for the one account (company,
    organisation) the admin chose when authorizing, which the callback keeps
    in the credentials (connections/oauth.py)."""

    credential_fields: ClassVar[dict[str, str]] = {}
    oauth = "required"
    # The credential holding the account, and what its absence is called.
    account: ClassVar[tuple[str, str]]

    def connect(self, credentials: dict):
        key, missing = self.account
        if not credentials.get(key):
            raise SourceError("credentials", f"{missing}: click Connect again")
        return self.api_for(credentials[key])

    def api_for(self, account: str):
        """The API client of `account`, on `self.base_url` and `self.transport`."""
        raise NotImplementedError


def latest_time(
    texts: Iterable, parse: Callable[[str], datetime], errors: tuple = (ValueError,)
) -> datetime | None:
    """The latest of the times `texts` give (a stream's cursor so far and its
    page's modification times), read with `parse`; a missing or unreadable
    one is passed over: the connector rejects its item, which moves no cursor."""
    times = []
    for text in texts:
        if text is None:
            continue
        try:
            times.append(parse(str(text)))
        except errors:
            continue
    return max(times) if times else None
