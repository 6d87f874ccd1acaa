"""Every operation of openapi.yaml, fuzzed with valid and invalid data, every check on.

A failure prints schemathesis's report with the `curl` that reproduces it.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings

from contracts.support import SCHEMA_TARGET, load_contract_schema

schema = load_contract_schema(SCHEMA_TARGET.start())


@schema.parametrize()
@settings(
    max_examples=100, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
def test_operation_keeps_its_contract(case: schemathesis.Case) -> None:
    case.call_and_validate()
