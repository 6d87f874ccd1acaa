"""What survives a full collection in the fake's process is frozen, so the next full pass
walks only what is new (in a child process: freezing is for the whole interpreter)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import gc
    from harness.fake_stripe.collector import freeze_survivors_of_full_collections

    freeze_survivors_of_full_collections()
    freeze_survivors_of_full_collections()  # a second call installs no second callback
    kept = [[n] for n in range(50_000)]  # stored objects, as the fake's tables hold them
    frozen_before = gc.get_freeze_count()
    gc.collect()
    print(gc.callbacks.count(gc.callbacks[-1]), gc.get_freeze_count() - frozen_before,
          len(gc.get_objects()))
    garbage = []
    garbage.append(garbage)
    del garbage
    print(gc.collect())  # a cycle that died before it was frozen is still collected
    """
)


def test_survivors_of_a_full_collection_are_frozen_and_garbage_is_still_collected() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    callbacks, newly_frozen, still_tracked, collected = map(int, out)
    assert callbacks == 1
    assert newly_frozen >= 50_000
    assert still_tracked < 1_000
    assert collected >= 1
