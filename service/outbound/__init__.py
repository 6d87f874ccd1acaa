"""Outbound calls: Stripe (`stripe_gateway`) and the signed webhooks to plugin sites (`notify`,
`webhook_http`).

Rule: an outbound client knows the domain, the store, the settings and the error catalogue;
it never imports `service.flows`, `service.http` or `service.runtime`: the flows decide,
these only deliver.
"""
