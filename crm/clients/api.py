"""/api/v1/clients: list with the directory's filters, create, read, update."""

from crm.api import ApiBlueprint

blp = ApiBlueprint("clients_api", __name__, description="Clients")
