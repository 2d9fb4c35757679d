"""The sources a connection can pull from, by vendor (the connector's name)."""

from connectors.connections.sources.base import Page, Source, Stream
from connectors.connections.sources.salesforce import SalesforceSource
from connectors.connections.sources.stripe import StripeSource
from connectors.connections.sources.zendesk import ZendeskSource

SOURCES: dict[str, type[Source]] = {
    cls.vendor: cls for cls in (SalesforceSource, StripeSource, ZendeskSource)
}

# HubSpot (issue 22).
from connectors.connections.sources.hubspot import HubSpotSource  # noqa: E402

SOURCES[HubSpotSource.vendor] = HubSpotSource

# QuickBooks Online and Xero, with OAuth 2 (issue 23).
from connectors.connections.sources.quickbooks import QuickBooksSource  # noqa: E402
from connectors.connections.sources.xero import XeroSource  # noqa: E402

SOURCES |= {cls.vendor: cls for cls in (QuickBooksSource, XeroSource)}

# ConnectWise PSA and NinjaOne, with their own keys (issue 23).
from connectors.connections.sources.connectwise import ConnectWiseSource  # noqa: E402
from connectors.connections.sources.ninjaone import NinjaOneSource  # noqa: E402

SOURCES |= {cls.vendor: cls for cls in (ConnectWiseSource, NinjaOneSource)}

# Freshdesk and Freshservice, with an API key (issue 23).
from connectors.connections.sources.freshdesk import (  # noqa: E402
    FreshdeskSource,
    FreshserviceSource,
)

SOURCES |= {cls.vendor: cls for cls in (FreshdeskSource, FreshserviceSource)}

# PagerDuty and Mailchimp, with an API key (issue 23).
from connectors.connections.sources.mailchimp import MailchimpSource  # noqa: E402
from connectors.connections.sources.pagerduty import PagerDutySource  # noqa: E402

SOURCES |= {cls.vendor: cls for cls in (MailchimpSource, PagerDutySource)}

__all__ = ["SOURCES", "Page", "Source", "Stream"]
