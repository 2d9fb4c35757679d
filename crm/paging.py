"""One way to page a list, for every list the pages and the API show: the
page a service answers (`Page`), how a query is cut into one (`page_of`),
the query arguments the API reads (`PageArgs`) and the shape it answers
(`page_schema`).

A page past the last is empty, not an error; one past a million would not
fit the query's OFFSET, so the arguments stop there.
"""

from dataclasses import dataclass
from typing import Generic, TypeVar

from flask import request, url_for
from marshmallow import Schema, fields, validate
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

T = TypeVar("T")

MAX_PAGE = 1_000_000
MAX_PER_PAGE = 200


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list: its items and where it stands in the whole."""

    items: list[T]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    def as_dict(self) -> dict:
        """The page as `page_schema` dumps it, for an answer that adds to it."""
        fields = ("items", "page", "per_page", "pages", "total")
        return {name: getattr(self, name) for name in fields}


def page_of(session: Session, query: Select, page: int, per_page: int) -> Page:
    """Page `page` of `query` (which carries its own order), with the count
    of all its rows."""
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    items = session.scalars(query.limit(per_page).offset((page - 1) * per_page)).all()
    return Page(list(items), page, per_page, total)


def page_fields(per_page: int = 50) -> dict[str, fields.Field]:
    """The `page` and `per_page` arguments, `per_page` defaulting to `per_page`."""
    return {
        "page": fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE)),
        "per_page": fields.Integer(
            load_default=per_page, validate=validate.Range(min=1, max=MAX_PER_PAGE)
        ),
    }


class PageArgs(Schema):
    """The paging arguments of a list (50 a page unless asked)."""

    page = page_fields()["page"]
    per_page = page_fields()["per_page"]


def page_schema(item_schema: type[Schema], name: str) -> type[Schema]:
    """The API's shape of a `Page` of `item_schema` (named `name` in the
    OpenAPI document)."""
    return Schema.from_dict(
        {
            "items": fields.List(fields.Nested(item_schema)),
            "page": fields.Integer(),
            "per_page": fields.Integer(),
            "pages": fields.Integer(),
            "total": fields.Integer(),
        },
        name=name,
    )


def page_links() -> dict:
    """A context processor's values: `page_url(n)`, this page at page n, filters kept
    (templates/_macros.html draws the links with it; crm/views.py offers it to every page)."""

    def page_url(number: int) -> str:
        args = request.args.to_dict() | {"page": number}
        return url_for(request.endpoint, **(request.view_args or {}), **args)

    return {"page_url": page_url}
