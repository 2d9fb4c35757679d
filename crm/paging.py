"""A page of a long list, numbered, as the pages and the API show it.

One shape for every numbered list (the unmatched queue, runs, a client's
threads): the items of one page, which page, how many a page holds and how
many there are in all. templates/ingest/_pager.html draws its links with
`page_url`, which `page_links` gives a blueprint's templates.
"""

from dataclasses import dataclass
from typing import Generic, TypeVar

from flask import request, url_for

T = TypeVar("T")


@dataclass
class Page(Generic[T]):
    """One page of a list the pages and the API show."""

    items: list[T]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def page_links() -> dict:
    """A context processor's values: `page_url(n)`, this page at page n, filters kept."""

    def page_url(number: int) -> str:
        args = request.args.to_dict() | {"page": number}
        return url_for(request.endpoint, **(request.view_args or {}), **args)

    return {"page_url": page_url}
