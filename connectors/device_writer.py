"""Where the devices of an RMM's inventory meet the database.

DeviceWriter takes a batch's DeviceProfiles (connectors.devices) and answers
with an Outcome per record, as every writer does (connectors.writers). A device
whose inventory names no client Touchline knows waits `unmatched` under that
name, so one mapping places all of that client's devices. A device whose
host already places another client's alerts is rejected, naming the client:
written, it would show a device whose alerts go elsewhere. Any other device
is created or brought up to date, and its host (and DNS name) registered as
identities of its client (system `host`), which replays the alerts that
waited for them. Flushes; the pipeline commits.
"""

from sqlalchemy import select

from connectors.base import DEVICE_FIELDS, DeviceProfile
from connectors.writers import ACCEPTED, Outcome, Writer, register_aliases
from crm.database import rows_with_keys
from crm.devices import HOST_SYSTEM, host_key
from crm.models import Client, Device, Identity
from crm.models.types import utcnow


def device_hosts(device: DeviceProfile) -> list[tuple[str, str]]:
    """The identities by which alerts name the device: its host, and its DNS name."""
    hosts = [host_key(device.hostname)]
    if device.dns_name and host_key(device.dns_name) not in hosts:
        hosts.append(host_key(device.dns_name))
    return [(HOST_SYSTEM, host) for host in hosts if host]


class DeviceWriter(Writer):
    """Resolves each device's client, writes the device, registers its hosts
    (`new_hints`: the pipeline replays the alerts that waited for them)."""

    def write(self, items: list[tuple[int, list[DeviceProfile]]]) -> dict[int, Outcome]:
        listed = [device for _, devices in items for device in devices]
        self.resolver.prefetch(device.hints for device in listed)
        hosts = {pair for device in listed for pair in device_hosts(device)}
        owners = {
            (system, key): client_id
            for system, key, client_id in rows_with_keys(
                self.session,
                Identity.__table__,
                ("system", "external_key", "client_id"),
                ("system", "external_key"),
                hosts,
            )
        }
        outcomes = {}
        for index, devices in items:
            for device in devices:
                outcome = self._write(device, owners)
                if outcome is not ACCEPTED:
                    break
            outcomes[index] = outcome
        return outcomes

    def _write(self, device: DeviceProfile, owners: dict[tuple[str, str], int]) -> Outcome:
        client_id = self.resolver.resolve(device.hints)
        if client_id is None:
            reason = f"no client found for {device.hints.describe()}"
            return Outcome("unmatched", reason, hints=device.hints.pairs())
        hosts = device_hosts(device)
        for pair in hosts:
            owner = owners.get(pair, client_id)
            if owner != client_id:
                slug = self.session.get(Client, owner).slug
                return Outcome(
                    "rejected",
                    f"hostname: host {pair[1]} already places the alerts of client {slug}; "
                    "a device belongs to one client (unmap the host first to move it)",
                    "hostname",
                )
        host = hosts[0][1]
        row = self.session.scalar(
            select(Device).where(Device.client_id == client_id, Device.host == host)
        )
        changed = row is None
        if row is None:
            row = Device(client_id=client_id, host=host)
            self.session.add(row)
        for name in DEVICE_FIELDS:
            value = getattr(device, name)
            if getattr(row, name) != value:
                setattr(row, name, value)
                changed = True
        if changed:
            row.updated_at = utcnow()
        self.session.flush()
        fresh = register_aliases(
            self.session, self.resolver, dict.fromkeys([*hosts, *device.aliases], client_id)
        )
        owners.update(dict.fromkeys(hosts, client_id))
        self.new_hints.update(fresh)
        if changed or fresh:
            return ACCEPTED
        return Outcome("duplicate", f"device {device.hostname} is already up to date")
