"""The error every door shows beside a field: input refused because of one
field, named as the input names it, with what is wrong with it."""


class FieldError(ValueError):
    """Input refused for one field: `field` names it (a dotted path into the
    input, "contacts.1.email"; None when the input as a whole is at fault),
    `message` says what is wrong; as text, "field: message". Pages show the
    message beside the field, the API answers {"field", "message"}, an import
    keeps both on the record it refused."""

    def __init__(self, field: str | None, message: str):
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message
