"""Ports on the loopback interface for the harness's three servers."""

from __future__ import annotations

import contextlib
import socket

from harness.errors import HarnessError

HOST = "127.0.0.1"
EVERY_INTERFACE = ("0.0.0.0", "::")


class PortBusy(HarnessError):
    """A port `up` was asked for is taken: a health check there would reach someone else."""


def url_host(bind_host: str) -> str:
    """The host to put in URLs for servers bound to `bind_host` (loopback for every interface)."""
    return HOST if bind_host in EVERY_INTERFACE else bind_host


def free_port() -> int:
    """A port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def port_is_free(port: int, host: str = HOST) -> bool:
    """Whether `port` on `host` can be bound right now (nobody listens there)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As our servers bind: a previous run's closed connections (TIME_WAIT) do not count.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
        return True


def choose_port(requested: int | None, previous_url: str | None) -> int:
    """The requested port; by default the previous run's port when free, so URLs stay put.

    0 means any free port.
    """
    if requested is not None:
        return requested
    if previous_url:
        with contextlib.suppress(ValueError, IndexError):
            previous = int(previous_url.rsplit(":", 1)[1].split("/", 1)[0])
            if port_is_free(previous):
                return previous
    return 0


def check_ports_free(requested: dict[str, int | None], host: str = HOST) -> None:
    """Raise PortBusy for the first explicitly requested port (not None, not 0) in use."""
    for name, port in requested.items():
        if port and not port_is_free(port, host):
            raise PortBusy(
                f"--{name}-port",
                f"port {port} on {host} is in use by another process; stop it, pick another"
                " port, or pass 0 for any free one",
            )
