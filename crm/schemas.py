"""Schema bases shared by every package's pages and API."""

from marshmallow import EXCLUDE, Schema, pre_load


class FormSchema(Schema):
    """Input from a query string or a browser form.

    Browsers send every field of a form, the empty ones as "": those count as
    missing, so a blank optional field takes its default instead of failing
    validation. Keys the schema does not know are ignored, as a page's other
    controls (buttons, the CSRF token) arrive with the rest.
    """

    class Meta:
        unknown = EXCLUDE

    @pre_load
    def _drop_empty(self, data, **kwargs):
        if hasattr(data, "items"):
            return {
                key: value
                for key, value in data.items()
                if not (isinstance(value, str) and not value.strip())
            }
        return data
