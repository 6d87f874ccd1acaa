"""A site's status follows the store, not the copy of the site an admin's request read: the
plugin is told of a change once, and a released site never comes back active, whatever write
lands between an admin's read and its write. On SQLite and on MongoStore over the mongomock
shim (not MongoDB: see `test_site_config_races.py`)."""

from __future__ import annotations

import pytest

from service.errors import SiteReleased
from service.flows import sites
from tests.support.service import RunningService

from .test_site_config_races import make_worker  # noqa: F401 - the fixture, by name


@pytest.fixture
async def service(make_worker) -> RunningService:  # noqa: F811 - the imported fixture
    return await make_worker()


async def told(service: RunningService, site_id: str) -> list[str]:
    deliveries = await service.store.list_webhook_deliveries(site_id, limit=50)
    return [d.event for d in reversed(deliveries)]


async def test_two_disables_from_one_copy_of_an_active_site_tell_the_plugin_once(service, site):
    services = service.services
    copy = await sites.existing_site(services, site.site_id)

    first = await sites.disable(services, copy, "unpaid")
    second = await sites.disable(services, copy, "unpaid")

    assert first.status == second.status == "disabled"
    assert await told(service, site.site_id) == ["plugin_disabled"]


async def test_two_enables_from_one_copy_of_a_disabled_site_tell_the_plugin_once(service, site):
    services = service.services
    await sites.disable(services, await sites.existing_site(services, site.site_id), "x")
    copy = await sites.existing_site(services, site.site_id)

    for _ in range(2):
        assert (await sites.enable(services, copy)).active

    assert await told(service, site.site_id) == ["plugin_disabled", "plugin_enabled"]


async def test_an_enable_read_before_a_release_is_refused_after_it(service, site):
    services = service.services
    copy = await sites.existing_site(services, site.site_id)
    await sites.release_instance(services, site.instance_id)

    with pytest.raises(SiteReleased):
        await sites.enable(services, copy)

    stored = await services.store.get_site(site.site_id)
    assert stored.status == "disabled" and stored.instance_id.startswith(sites.RELEASED_PREFIX)


async def test_an_enable_landing_inside_a_release_does_not_leave_the_site_active(service, site):
    """The admin's enable lands between the release's two writes (disable, then the new
    instance id): the release still ends with the site disabled."""
    services = service.services
    store = services.store
    reassign = store.reassign_instance

    async def enable_first(site_id: str, instance_id: str, token_hash: str):
        assert (await sites.enable(services, await sites.existing_site(services, site_id))).active
        return await reassign(site_id, instance_id, token_hash)

    store.reassign_instance = enable_first
    released = await sites.release_instance(services, site.instance_id)

    assert released.status == "disabled"
    stored = await store.get_site(site.site_id)
    assert stored.status == "disabled" and stored.instance_id.startswith(sites.RELEASED_PREFIX)
