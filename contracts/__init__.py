"""Contract suites: schemathesis against the spec, the plugin as consumer, Stripe events."""
