"""A site's own record, as its plugin sees and updates it."""

from __future__ import annotations

from ..errors import InstanceNotFound
from .registration import METADATA_FIELDS, checked_site_url
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
    body = call.body
    fields: dict = {"metadata": {k: body[k] for k in METADATA_FIELDS if k in body}}
    if "site_url" in body:
        fields["site_url"] = checked_site_url(call, body["site_url"])
    if "admin_email" in body:
        fields["admin_email"] = body["admin_email"]
    site = await call.services.store.update_site(call.own_site.site_id, fields)
    if site is None:
        raise InstanceNotFound()
    return {"success": True, "instance": site.public()}
