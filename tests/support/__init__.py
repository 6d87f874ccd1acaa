"""What the suites in `tests/` and `contracts/` share: one way to start the service
(`service.py`), one way to run `rakubun-service` as a child process, with `free_port`
(`service_process.py`), one reader of the plugin's recorded calls (`plugin_calls.py`), one
Stripe world (`stripe.py`), one local HTTP endpoint that records what it receives
(`capture.py`) and the fixtures built on them (`fixtures.py`).

`rakubun-harness up` as a process, for the end-to-end suites, is the harness's own pytest
plugin (`harness/pytest_plugin.py`, `harness/testing.py`), driven through the one client of
a running harness (`harness/client.py`).
"""
