"""What client input can be refused for: each names its field as a dotted
path into the input ("slug", "contacts.1.email", "identities.0")."""

from crm.errors import FieldError


class ClientInputError(FieldError):
    """Input a client cannot take; `field` is a dotted path into the input."""

    status = 422


class DuplicateSlug(ClientInputError):
    status = 409


class IdentityTaken(ClientInputError):
    status = 409
