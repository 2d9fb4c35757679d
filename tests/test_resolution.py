"""Records reached through another object resolve once that object is placed.

A Stripe dispute names only its charge, a charge names its customer: once any
accepted record ties the charge to a client, every record waiting on it goes
in too, transitively, in whichever order the records and the mappings come.
"""

import copy
import json
from pathlib import Path

from sqlalchemy import select

from crm.models import Entity, InboxRecord
from tests.factories import make_client
from tests.helpers import ingest_file

VENDORS = Path(__file__).parent / "fixtures/vendors"
CUSTOMER = "cus_QXg1o8vcGmoR32"
CHARGE = "ch_1PgafuB7WZ01zgkWXYmPNZs8"  # the charge Stripe's fixture dispute disputes
DISPUTE = "dp_1Pgc71B7WZ01zgkWMevJiAUx"


def stripe_object(name: str, **changes) -> dict:
    path = VENDORS / f"stripe_openapi_fixture_{name}.json"
    return copy.deepcopy(json.loads(path.read_text())) | changes


def write(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


def test_mapping_a_customer_places_the_dispute_that_names_only_its_charge(
    runner, session, tmp_path
):
    """The dispute waits on the charge, the charge on its customer: mapping
    the customer replays the charge, whose id then places the dispute."""
    acme = make_client("acme")
    dispute = stripe_object("dispute")
    charge = stripe_object("charge", customer=CUSTOMER)
    summary = ingest_file(runner, "stripe", write(tmp_path / "export.ndjson", [dispute, charge]))
    assert summary["unmatched"] == 2

    result = runner.invoke(args=["identities", "map", "stripe", CUSTOMER, "acme"])
    assert result.exit_code == 0, result.output

    waiting = session.scalars(select(InboxRecord).where(InboxRecord.status == "unmatched")).all()
    assert waiting == []
    disputes = session.scalars(select(Entity).where(Entity.type == "dispute")).all()
    assert [(d.client_id, d.key, d.is_open) for d in disputes] == [(acme.id, DISPUTE, True)]
