"""Start the worker scripts of this folder as separate Python processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]


def start_worker(script: str, *args: str) -> subprocess.Popen[str]:
    """`python tests/store/<script> args...`, with the repository importable, line-buffered
    text pipes for stdin and stdout, and stderr kept for the failure message."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p
        ),
    }
    return subprocess.Popen(
        [sys.executable, str(HERE / script), *args],
        cwd=REPO_ROOT,
        env=env,
        text=True,
        bufsize=1,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
