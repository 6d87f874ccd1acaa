"""A site's own record, as its plugin sees and updates it."""

from __future__ import annotations

from ...errors import InstanceNotFound
from ...flows import sites
from .registry import Call, Operations, Reply

ops = Operations()


def _own_instance(call: Call) -> None:
    if call.params["instance_id"] != call.own_site.instance_id:
        # Another site's record is indistinguishable from a missing one.
        raise InstanceNotFound()


@ops("getInstance")
async def get_instance(call: Call) -> Reply:
    _own_instance(call)
    return {"success": True, "instance": call.own_site.public()}


@ops("updateInstance")
async def update_instance(call: Call) -> Reply:
    """Metadata, site URL and admin email only; the schema rejects token, secret, status, ids."""
    _own_instance(call)
    site = await sites.update_own_record(call.services, call.own_site, call.body)
    return {"success": True, "instance": site.public()}
