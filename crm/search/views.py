"""/search: the results page, grouped by kind."""

from flask import Blueprint, render_template, request
from marshmallow import ValidationError
from webargs.multidictproxy import MultiDictProxy

from crm.extensions import db
from crm.search.operations import SearchResults, search
from crm.search.schemas import SearchQuerySchema

bp = Blueprint("search", __name__)


@bp.get("/search")
def results():
    schema = SearchQuerySchema()
    try:
        query = schema.load(MultiDictProxy(request.args, schema))
    except ValidationError as error:
        typed = request.args.get("q", "")[:200]
        messages = {name: " ".join(map(str, problems)) for name, problems in error.messages.items()}
        if not typed.strip():  # an empty box: the page asks for a query, no error
            messages.pop("q", None)
        page = SearchResults(query=typed.strip())
        return render_template("search/results.html", results=page, errors=messages), (
            400 if messages else 200
        )
    page = search(db.session, query["q"], query.get("kind", ()), query["limit"])
    return render_template("search/results.html", results=page, errors={})
