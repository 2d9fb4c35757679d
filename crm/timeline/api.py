"""/api/v1/clients/<slug>/timeline, threads, touches and commitments."""

from crm.api import ApiBlueprint

blp = ApiBlueprint("timeline_api", __name__, description="Timeline, threads and touches")
