"""`python -m bench.writer_cpu`: both ways of running a batch remove each deduction once, and
only the old way puts a savepoint around each job. Nothing here is timed."""

from __future__ import annotations

from unittest import mock

import pytest

from bench.writer_cpu import WAYS, writer_cpu_per_deduction
from service.store.sqlite.writer import SQLiteWriter


@pytest.mark.parametrize("way", WAYS)
async def test_each_way_removes_every_deduction_once(way: str) -> None:
    spy = mock.MagicMock(side_effect=SQLiteWriter._run_in_savepoint)
    with mock.patch.object(SQLiteWriter, "_run_in_savepoint", spy):
        cpu, removed = await writer_cpu_per_deduction(240, 50, way=way)
    assert removed == 240
    assert cpu > 0
    assert spy.call_count == (240 if way == "savepoint per job" else 0)
