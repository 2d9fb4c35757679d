"""Who may do what: the one table of capabilities per role, and of the
capability every endpoint needs, per HTTP method.

The access hook (crm.accounts.guard) refuses any endpoint missing from
ENDPOINTS, and tests/test_access_policy.py fails when a route of the app has
no entry here: a new page must be given a line in this file before anyone can
open it.
"""

from collections.abc import Iterable, Mapping

from crm.accounts.models import ROLES

# --- capabilities ---------------------------------------------------------------------

USERS = "users"  # accounts: create, roles, deactivate, passwords
TOKENS = "tokens"  # API tokens of any user
CONNECTORS = "connectors"  # file ingest through the API, replaying inbox records
IMPORTS = "imports"  # importing a file from the pages, and reading the ingest runs
IDENTITIES = "identities"  # the unmatched queue, mapping identities to clients
AUDIT = "audit"  # reading the audit log
CLIENTS_READ = "clients:read"  # directory, client page, timeline, threads, card, devices
CLIENTS_WRITE = "clients:write"  # create and edit clients (groups, contacts, identities, tier)
TOUCHES = "touches"  # log touches, make and complete commitments
BRIEFINGS = "briefings"  # briefings: page, PDF, batches, JSON
PORTFOLIO = "portfolio"  # portfolio report (HTML, PDF, CSV, JSON), the activity overview
DIGEST = "digest"  # the weekly executive digest (/reports/digest)

CAPABILITIES = {
    USERS: "manage users",
    TOKENS: "manage API tokens",
    CONNECTORS: "run and review connectors",
    IMPORTS: "import files and read the ingest runs",
    IDENTITIES: "map identities to clients",
    AUDIT: "read the audit log",
    CLIENTS_READ: "read clients and their timelines",
    CLIENTS_WRITE: "create and edit clients",
    TOUCHES: "log touches and commitments",
    BRIEFINGS: "read and download briefings",
    PORTFOLIO: "read the portfolio report",
    DIGEST: "read the weekly executive digest",
}

ROLE_CAPABILITIES: dict[str, frozenset[str]] = {
    "admin": frozenset({USERS, TOKENS, CONNECTORS, IMPORTS, IDENTITIES, AUDIT, DIGEST}),
    "manager": frozenset({CLIENTS_READ, CLIENTS_WRITE, TOUCHES, BRIEFINGS, PORTFOLIO, IMPORTS}),
    "staff": frozenset({CLIENTS_READ, TOUCHES}),
    "executive": frozenset({CLIENTS_READ, BRIEFINGS, PORTFOLIO, DIGEST}),
}

# Not capabilities a role grants, but what an endpoint may ask for instead.
PUBLIC = "public"  # anyone, signed in or not
SIGNED_IN = "signed in"  # any active account, whatever its roles

# --- endpoints ------------------------------------------------------------------------
# endpoint -> the capability every method needs, or {method: capability}.
# HEAD is checked as GET, OPTIONS as GET.

ENDPOINTS: dict[str, str | Mapping[str, str]] = {
    # open to all: signing in, static files, health and readiness, and the webhooks, which
    # check their senders' signatures instead of a user
    "static": PUBLIC,
    "api_docs_assets": PUBLIC,  # Swagger UI's own files, as static as ours
    "core.health": PUBLIC,
    "core.ready": PUBLIC,
    "webhooks.receive": PUBLIC,
    "webhooks.check_url": PUBLIC,  # a sender's GET of its URL, checked as its POSTs are
    "accounts.login": PUBLIC,
    "accounts.logout": PUBLIC,
    # stopping an e-mail from its signed link, without signing in (crm.accounts.unsubscribe)
    "unsubscribe.confirm": PUBLIC,
    "unsubscribe.unsubscribe": PUBLIC,
    # any account
    "core.home": SIGNED_IN,
    "api-docs.openapi_json": SIGNED_IN,
    "api-docs.openapi_swagger_ui": SIGNED_IN,
    "accounts.account": SIGNED_IN,
    "accounts.change_password": SIGNED_IN,
    "accounts.end_other_sessions": SIGNED_IN,
    "accounts.delivery_preferences": SIGNED_IN,
    "accounts.mail_preferences": SIGNED_IN,
    "accounts_api.me": SIGNED_IN,
    "accounts_api.MailPreferences": SIGNED_IN,
    # background jobs: each sees the jobs they started, an admin all (crm.jobs.queries)
    "jobs.jobs": SIGNED_IN,
    "jobs.job": SIGNED_IN,
    "jobs.download": SIGNED_IN,
    "jobs_api.jobs": SIGNED_IN,
    "jobs_api.job": SIGNED_IN,
    # clients
    "clients.directory": CLIENTS_READ,
    "clients.create": CLIENTS_WRITE,
    "clients.edit": CLIENTS_WRITE,
    "clients_api.Clients": {"GET": CLIENTS_READ, "POST": CLIENTS_WRITE},
    "clients_api.ClientBySlug": {"GET": CLIENTS_READ, "PATCH": CLIENTS_WRITE},
    # search across clients, contacts, identities and the timeline
    "search.results": CLIENTS_READ,
    "search_api.find": CLIENTS_READ,
    # the client page, its timeline, threads and card
    "timeline.client_page": CLIENTS_READ,
    "timeline.thread_page": CLIENTS_READ,
    "timeline.threads_list": CLIENTS_READ,
    "timeline_api.timeline": CLIENTS_READ,
    "timeline_api.thread_detail": CLIENTS_READ,
    "timeline_api.card": CLIENTS_READ,
    "timeline_api.devices": CLIENTS_READ,
    "timeline_api.list_commitments": CLIENTS_READ,
    # touches and commitments
    "timeline.log_touch_form": TOUCHES,
    "timeline.commitment_form": TOUCHES,
    "timeline.commitment_done_form": TOUCHES,
    "timeline_api.create_touch": TOUCHES,
    "timeline_api.create_commitment": TOUCHES,
    "timeline_api.complete": TOUCHES,
    # meetings: read with the client, planned and logged as touches are
    "meetings.meeting_page": CLIENTS_READ,
    "meetings.new_meeting": TOUCHES,
    "meetings.log_form": TOUCHES,
    "meetings_api.meetings": CLIENTS_READ,
    "meetings_api.meeting": CLIENTS_READ,
    "meetings_api.create": TOUCHES,
    "meetings_api.log": TOUCHES,
    # briefings
    "briefing.briefing_page": BRIEFINGS,
    "briefing.briefing_pdf_download": BRIEFINGS,
    "briefing.qbr_summary_pdf": BRIEFINGS,
    "briefing.batch_page": BRIEFINGS,
    "briefing.batch_zip": BRIEFINGS,
    "briefing.batch_pdf": BRIEFINGS,
    "briefing.batch_job": BRIEFINGS,
    "briefing_api.client_briefing": BRIEFINGS,
    # the portfolio report; accepting a suggested tier edits the client
    "portfolio.report": PORTFOLIO,
    "portfolio.report_pdf": PORTFOLIO,
    "portfolio.report_pdf_job": PORTFOLIO,
    "portfolio.report_csv": PORTFOLIO,
    "portfolio_api.portfolio": PORTFOLIO,
    "portfolio.accept_tier": CLIENTS_WRITE,
    "reports.overview": PORTFOLIO,
    "digest.digest": DIGEST,
    # identities and the unmatched queue
    "ingest.unmatched": IDENTITIES,
    "ingest.map_hint": IDENTITIES,
    "ingest_api.Identities": IDENTITIES,
    "ingest_api.unmatched": IDENTITIES,
    "ingest_api.unmatched_records": IDENTITIES,
    # connectors: runs, inbox records and their replay, file ingest
    "ingest.runs": IMPORTS,
    "ingest.run": IMPORTS,
    "ingest.import_file": IMPORTS,
    "ingest.inbox_record": CONNECTORS,
    # connections to vendors' APIs (credentials, schedules): admins
    "connections.connections": CONNECTORS,
    "connections.add": CONNECTORS,
    "connections.test": CONNECTORS,
    "connections.pause": CONNECTORS,
    "connections.resume": CONNECTORS,
    "connections.sync_now": CONNECTORS,
    "connections.delete": CONNECTORS,
    "connections.connect": CONNECTORS,
    "connections.callback": CONNECTORS,
    "connections_api.Connections": CONNECTORS,
    "connections_api.ConnectionByName": CONNECTORS,
    "connections_api.test": CONNECTORS,
    "connections_api.pause": CONNECTORS,
    "connections_api.resume": CONNECTORS,
    "connections_api.sync_now": CONNECTORS,
    "ingest_api.runs": CONNECTORS,
    "ingest_api.run": CONNECTORS,
    "ingest_api.replay": CONNECTORS,
    "ingest_api.ingest": CONNECTORS,
    # administration
    "admin.users": USERS,
    "admin.user": USERS,
    "admin.user_roles": USERS,
    "admin.user_active": USERS,
    "admin.user_password": USERS,
    "admin.tokens": TOKENS,
    "admin.revoke_token_form": TOKENS,
    "admin.audit_log": AUDIT,
    # clients whose account manager's name matches no account (crm.clients.managers)
    "managers.managers": USERS,
    "managers.assign": USERS,
    "managers_api.Unmatched": USERS,
    "managers_api.assign_api": USERS,
    "accounts_api.audit": AUDIT,
}


def capabilities_of(roles: Iterable[str]) -> frozenset[str]:
    """Everything the roles allow together."""
    return frozenset().union(*(ROLE_CAPABILITIES[role] for role in roles))


def required(endpoint: str | None, method: str) -> str | None:
    """The capability `method` on `endpoint` needs; None when the table does
    not say, which the access hook takes as "refused"."""
    rule = ENDPOINTS.get(endpoint or "")
    if rule is None or isinstance(rule, str):
        return rule
    method = "GET" if method in ("HEAD", "OPTIONS") else method
    return rule.get(method)


def allows(roles: Iterable[str], capability: str | None) -> bool:
    """Whether an account with these roles passes `capability`."""
    if capability is None:
        return False
    if capability in (PUBLIC, SIGNED_IN):
        return True
    return capability in capabilities_of(roles)


def _check_table() -> None:
    """Every role and capability named above exists: a typo fails at import."""
    if set(ROLE_CAPABILITIES) != set(ROLES):
        raise ValueError(f"ROLE_CAPABILITIES must name exactly the roles {ROLES}")
    for role, granted in ROLE_CAPABILITIES.items():
        if unknown := granted - set(CAPABILITIES):
            raise ValueError(f"role {role} is given unknown capabilities {sorted(unknown)}")
    known = set(CAPABILITIES) | {PUBLIC, SIGNED_IN}
    for endpoint, rule in ENDPOINTS.items():
        needs = {rule} if isinstance(rule, str) else set(rule.values())
        if unknown := needs - known:
            raise ValueError(f"endpoint {endpoint} needs unknown capabilities {sorted(unknown)}")


_check_table()
