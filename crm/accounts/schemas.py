"""What the account pages, the admin pages and the accounts API take and give."""

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from crm.accounts.models import ROLES
from crm.accounts.operations import MAX_EMAIL_LENGTH, MAX_PASSWORD_LENGTH
from crm.paging import PageArgs, page_schema
from crm.schemas import FormSchema

_email = validate.Length(max=MAX_EMAIL_LENGTH)
_password = validate.Length(max=MAX_PASSWORD_LENGTH)
PICK_A_ROLE = "Pick at least one role."


# --- forms -------------------------------------------------------------------------------


class LoginFormSchema(FormSchema):
    email = fields.String(required=True, validate=_email)
    # Not stripped or checked for length here: a password is what was typed.
    password = fields.String(required=True, validate=_password)
    next = fields.String(load_default=None)


class PasswordChangeFormSchema(FormSchema):
    current_password = fields.String(required=True, validate=_password)
    new_password = fields.String(required=True, validate=_password)
    repeat_password = fields.String(required=True, validate=_password)


class UserCreateFormSchema(FormSchema):
    email = fields.String(required=True, validate=_email)
    name = fields.String(load_default=None, validate=validate.Length(max=200))
    roles = fields.List(
        fields.String(validate=validate.OneOf(ROLES)),
        required=True,
        validate=validate.Length(min=1, error=PICK_A_ROLE),
        error_messages={"required": PICK_A_ROLE},
    )
    # Empty: a password is generated and shown once.
    password = fields.String(load_default=None, validate=_password)


class RolesFormSchema(FormSchema):
    roles = fields.List(
        fields.String(validate=validate.OneOf(ROLES)),
        required=True,
        validate=validate.Length(min=1, error=PICK_A_ROLE),
        error_messages={"required": PICK_A_ROLE},
    )


class ActiveFormSchema(FormSchema):
    active = fields.Boolean(required=True)


class PasswordResetFormSchema(FormSchema):
    password = fields.String(load_default=None, validate=_password)


class TokenFormSchema(FormSchema):
    name = fields.String(load_default=None, validate=validate.Length(max=120))


# --- the audit log ---------------------------------------------------------------------


class AuditQuerySchema(FormSchema, PageArgs):
    action = fields.String(load_default=None, validate=validate.Length(max=40))
    actor = fields.String(load_default=None, validate=validate.Length(max=254))
    client = fields.String(load_default=None, validate=validate.Length(max=80))


class AuditEntrySchema(Schema):
    id = fields.Integer()
    at = fields.DateTime()
    actor_id = fields.Integer(allow_none=True)
    actor_email = fields.String()
    action = fields.String()
    target_type = fields.String(allow_none=True)
    target = fields.String(allow_none=True)
    detail = fields.Dict()
    ip = fields.String(allow_none=True)


AuditPageSchema = page_schema(AuditEntrySchema, "AuditPage")


# --- who am I ---------------------------------------------------------------------------


class MeSchema(Schema):
    id = fields.Integer()
    email = fields.String()
    name = fields.String()
    roles = fields.List(fields.String())
    capabilities = fields.List(fields.String())
    authenticated_by = fields.String(metadata={"description": "session or token"})
    token = fields.String(
        allow_none=True, metadata={"description": "the shown part of the API token used"}
    )


class JsonBoolean(fields.Boolean):
    """true or false, as JSON spells them (not "yes", 1 or "on")."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class MailPreferencesSchema(Schema):
    """Which e-mail the account receives (/account's form, as JSON); a PATCH
    names the kinds it changes, the others keep their setting."""

    briefing = JsonBoolean(
        metadata={"description": "The briefing before each meeting of a client one manages"}
    )
    digest = JsonBoolean(metadata={"description": "The weekly executive digest (executives)"})

    @validates_schema
    def names_a_kind(self, data, **kwargs):
        if not data:
            raise ValidationError("name at least one kind of e-mail: briefing, digest")


class DeliveryPreferencesFormSchema(FormSchema):
    """When e-mail reaches the user; blank fields take the defaults."""

    timezone = fields.String(validate=validate.Length(max=64), load_default=None)
    working_days = fields.String(validate=validate.Length(max=40), load_default=None)


class MailPreferencesFormSchema(FormSchema):
    """Which e-mail the user receives: a ticked box sends "on", an unticked one nothing."""

    briefing = fields.Boolean(load_default=False)
    digest = fields.Boolean(load_default=False)
