"""/api/v1/me (who the token or session is), /api/v1/me/mail (which e-mail
they receive) and /api/v1/audit (the audit log, for admins)."""

from flask.views import MethodView

from crm.accounts import mail
from crm.accounts.audit import audit_page
from crm.accounts.policy import capabilities_of
from crm.accounts.requester import current_token, current_user_or_none
from crm.accounts.schemas import (
    AuditPageSchema,
    AuditQuerySchema,
    MailPreferencesSchema,
    MeSchema,
)
from crm.api import ApiBlueprint
from crm.extensions import db

blp = ApiBlueprint("accounts_api", __name__, description="Accounts and the audit log")


@blp.route("/me")
@blp.response(200, MeSchema)
def me():
    """The account this request speaks for, its roles and what they allow."""
    user = current_user_or_none()
    token = current_token()
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "roles": list(user.roles),
        "capabilities": sorted(capabilities_of(user.roles)),
        "authenticated_by": "token" if token is not None else "session",
        "token": token.prefix if token is not None else None,
    }


@blp.route("/me/mail")
class MailPreferences(MethodView):
    @blp.response(200, MailPreferencesSchema)
    def get(self):
        """Which e-mail this account receives (as /account shows it)."""
        return mail.preferences(db.session, current_user_or_none().email)

    @blp.arguments(MailPreferencesSchema)
    @blp.response(200, MailPreferencesSchema)
    def patch(self, wanted):
        """Start or stop kinds of e-mail (audited as user.mail); the kinds not
        given keep their setting. Answers with every kind's setting."""
        email = current_user_or_none().email
        mail.set_receives(db.session, email, wanted, via="api")
        db.session.commit()
        return mail.preferences(db.session, email)


@blp.route("/audit")
@blp.arguments(AuditQuerySchema, location="query")
@blp.response(200, AuditPageSchema)
def audit(query):
    """The audit log, newest first (admins only).

    `action` is one action ("briefing.download") or a family ("briefing");
    `actor` matches part of the actor's email; `client` is a client's slug.
    """
    page = audit_page(db.session, **query)
    return page
