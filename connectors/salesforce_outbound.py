"""The `salesforce_outbound` connector: Salesforce outbound messages (SOAP).

A workflow rule or flow sends an outbound message: a SOAP envelope whose
`notifications` hold the org's OrganizationId and up to 100 `Notification`s,
each an `sObject` (`xsi:type="sf:Opportunity"`) with the fields the message
was set up to send, as text. Each sObject becomes the same record a REST
query gives (`{"attributes": {"type": ...}, "Id": ..., ...}`) and is read by
the `salesforce` connector's rules: an opportunity's state is one event
(origin `salesforce`, so a message and an export of the same state are one
fact), an account an identity claim. The sender is authenticated by its
OrganizationId (connectors.signatures_keys) and answered with the SOAP
acknowledgement Salesforce waits for; without it Salesforce retries the
message for 24 hours.

The XML is parsed with defusedxml: entity expansion and external references
in a hostile body are refused, not followed.
"""

from collections.abc import Iterator
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from flask import Response

from connectors.readers import Record
from connectors.registry import register
from connectors.salesforce import SalesforceConnector

OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
ACK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    "<soapenv:Body>"
    f'<notificationsResponse xmlns="{OUTBOUND_NS}"><Ack>true</Ack></notificationsResponse>'
    "</soapenv:Body></soapenv:Envelope>"
)


class NotAnOutboundMessage(ValueError):
    """The body is not XML, or not a Salesforce outbound message."""


def _notifications(content: bytes) -> Element:
    try:
        root = fromstring(content)
    except (ParseError, DefusedXmlException) as error:
        raise NotAnOutboundMessage(f"the body is not usable XML: {error}") from None
    found = root.find(f".//{{{OUTBOUND_NS}}}notifications")
    if found is None:
        raise NotAnOutboundMessage(
            "the body is not a Salesforce outbound message: no "
            f'<notifications xmlns="{OUTBOUND_NS}">'
        )
    return found


def organization_id(content: bytes) -> str | None:
    """The OrganizationId a message says it is from, or None."""
    try:
        value = _notifications(content).findtext(f"{{{OUTBOUND_NS}}}OrganizationId")
    except NotAnOutboundMessage:
        return None
    return value.strip() if value and value.strip() else None


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _sobject_record(sobject: Element) -> dict:
    """An sObject as the REST API's record of it: fields by their names,
    empty and nil fields as null."""
    kind = _local(sobject.get(XSI_TYPE, "")).rpartition(":")[2] or None
    record: dict = {"attributes": {"type": kind}} if kind else {}
    for child in sobject:
        value = (child.text or "").strip()
        record[_local(child.tag)] = value or None
    return record


@register
class SalesforceOutboundConnector(SalesforceConnector):
    """Salesforce outbound messages: each notified sObject, read as the
    `salesforce` connector reads a REST query's record."""

    name = "salesforce_outbound"
    default_format = "xml"

    def parse(self, content: bytes, filename: str | None = None) -> Iterator[Record]:
        try:
            notifications = _notifications(content)
        except NotAnOutboundMessage as error:
            yield Record(0, "body", {"_raw": content[:200].decode(errors="replace")}, str(error))
            return
        notified = notifications.iter(f"{{{OUTBOUND_NS}}}Notification")
        for position, notification in enumerate(notified):
            locator = f"Notification[{position}]"
            sobject = notification.find(f"{{{OUTBOUND_NS}}}sObject")
            if sobject is None:
                yield Record(position, locator, {"_raw": None}, "has no sObject")
                continue
            yield Record(position, locator, _sobject_record(sobject))


def acknowledge(answer):
    """Salesforce's acknowledgement for a message stored (and processed or
    queued); any other answer goes back as it is, and Salesforce retries."""
    response = answer[0] if isinstance(answer, tuple) else answer
    status = answer[1] if isinstance(answer, tuple) else response.status_code
    if status not in (200, 202):
        return answer
    return Response(ACK, status=200, mimetype="text/xml")
