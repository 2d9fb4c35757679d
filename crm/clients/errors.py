"""What client input can be refused for: each names its field as a dotted
path into the input ("slug", "contacts.1.email", "identities.0")."""


class ClientInputError(ValueError):
    """Input a client cannot take; `field` is a dotted path into the input."""

    status = 422

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class DuplicateSlug(ClientInputError):
    status = 409


class IdentityTaken(ClientInputError):
    status = 409
