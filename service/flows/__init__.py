"""Use cases: registering sites, buying and granting credits, Stripe's events, the catalogue.

Rule: flows work on `service.domain`, `service.store` and the outbound clients (through the
`Services` context); they never import `service.http` or `service.runtime`, so each can be
called, and tested, without a request or a server.
"""
