"""GET /api/v1/search: the search page's answer as JSON."""

from crm.api import ApiBlueprint
from crm.extensions import db
from crm.search.operations import search
from crm.search.schemas import SearchQuerySchema, SearchResultsSchema

blp = ApiBlueprint("search_api", __name__, description="Search")


@blp.route("/search")
@blp.arguments(SearchQuerySchema, location="query")
@blp.response(200, SearchResultsSchema)
def find(query):
    """Find clients, contacts, identities, threads and events in one query.

    Each hit names its client (slug and name), what it is (`kind`), a title
    and the page it opens. Hits come grouped by kind, best first; within a
    kind, an exact match comes before a prefix, a prefix before other
    matches, and a name that only looks like the query (a typo) last. A
    thread is one hit, named by its newest matching event."""
    return search(db.session, query["q"], query.get("kind", ()), query["limit"])
