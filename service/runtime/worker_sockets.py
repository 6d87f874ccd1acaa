"""Each worker of `rakubun-service --workers N` listens on a socket of its own (SO_REUSEPORT).

Sanic hands every worker the same listening socket, and the worker that wakes first accepts
every connection waiting: clients that open their connections together and keep them alive (a
reverse proxy's pool, wrk) can all land on one worker while the others idle, and 2 workers
serve about one worker's throughput (`python -m bench --workers 2` shows it in its pairs).

Here the main process binds the address with SO_REUSEPORT and never listens on it (it holds
the address, also while workers start, and takes no connection), and each worker, before it
serves, puts a listening socket of its own, bound to the same address, in place of the one it
inherited: Linux then spreads new connections over the workers' sockets by a hash of their
addresses.

The cost: connections still waiting in a worker's queue when it stops are reset (a shared
queue would hand them to another worker). Linux only; elsewhere the workers share Sanic's
socket as before.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import Any

from sanic import Sanic
from sanic.worker.loader import AppLoader


def balances_connections() -> bool:
    """Whether SO_REUSEPORT spreads connections over sockets here (Linux's does)."""
    return hasattr(socket, "SO_REUSEPORT") and os.uname().sysname == "Linux"


def _family(host: str) -> socket.AddressFamily:
    try:
        return socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:  # a name: the family of its first address
        return socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0][0]


def _reusable(family: socket.AddressFamily) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    return sock


def reserve_address(host: str, port: int) -> socket.socket:
    """The main process's socket: bound to (host, port) with SO_REUSEPORT, not listening."""
    sock = _reusable(_family(host))
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def address_for_workers(host: str, port: int, workers: int) -> socket.socket | None:
    """The `sock` for Sanic's `prepare`: the reserved address with several workers where
    SO_REUSEPORT balances; else None (Sanic binds its own socket, shared by the workers)."""
    if workers > 1 and balances_connections():
        return reserve_address(host, port)
    return None


def is_reserved(sock: socket.socket) -> bool:
    """A socket `reserve_address` made: SO_REUSEPORT, and nobody listens on it."""
    return bool(
        sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
        and not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
    )


def listen_on_own_socket(inherited: socket.socket, backlog: int) -> None:
    """Make `inherited` (the reserved socket, as this worker got it) a listening socket of this
    worker's own, on the same address: its file descriptor then refers to the new socket."""
    own = _reusable(inherited.family)
    try:
        own.bind(inherited.getsockname())
        own.listen(backlog)
        os.dup2(own.fileno(), inherited.fileno(), inheritable=False)
    finally:
        own.close()


def serve(loader: AppLoader, host: str, port: int, workers: int) -> None:
    """Serve the app `loader` makes on host:port with `workers` processes (one: in this
    process), each worker on a socket of its own where SO_REUSEPORT balances."""
    app = loader.load()
    app.prepare(
        host=host,
        port=port,
        sock=address_for_workers(host, port, workers),
        workers=workers,
        access_log=False,
        motd=False,
        single_process=workers == 1,
    )
    if workers == 1:
        Sanic.serve_single(primary=app)
    else:
        Sanic.serve(primary=app, app_loader=loader)


def own_listening_sockets(app: Sanic, _loop: Any = None) -> None:
    """`before_server_start` in each worker: Sanic creates the server on the inherited socket
    after this, so it listens on the worker's own one."""
    if not balances_connections():
        return  # no socket was reserved (and off Linux SO_REUSEPORT may not even exist)
    for info in app.state.server_info:
        sock = info.settings.get("sock")
        if sock is not None and is_reserved(sock):
            listen_on_own_socket(sock, int(info.settings.get("backlog") or 100))
