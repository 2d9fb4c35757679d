"""/api/v1: identities, unmatched records, ingest runs and file ingest."""

from crm.api import ApiBlueprint

blp = ApiBlueprint("ingest_api", __name__, description="Identities, unmatched records, ingest")
