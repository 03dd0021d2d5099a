"""A guard on the tests' sockets: nothing but loopback is looked up or connected to.

``install(set_attr)`` replaces ``socket.getaddrinfo`` and ``socket.socket.connect`` /
``connect_ex``: a lookup of a name other than a loopback address or ``localhost``, or an
IP connection to anything outside 127.0.0.0/8 and [::1], is recorded in ``REFUSED`` and
raises (``socket.gaierror`` / ``ConnectionRefusedError``) instead of leaving the machine.

The test process installs it with a ``MonkeyPatch`` (``conftest.py``); every Python process
a test starts (``check`` from "cron", the daemon, the CLI) installs it too, through
``site/sitecustomize.py``, which ``conftest.py`` puts on ``PYTHONPATH``.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import Any

REFUSED: list[str] = []
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def is_loopback(host: object) -> bool:
    """Whether ``host`` (an address, or a name) stays on this machine."""
    if host is None:
        return True
    text = host.decode() if isinstance(host, bytes) else str(host)
    if text.lower().rstrip(".") in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(text.split("%")[0]).is_loopback
    except ValueError:
        return False


def install(set_attr: Callable[[Any, str, Any], None] = setattr) -> None:
    """Guard the process's sockets (see module docstring); ``set_attr`` does the patching
    (a ``MonkeyPatch.setattr`` to undo it afterwards)."""
    real_lookup = socket.getaddrinfo
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not is_loopback(host):
            REFUSED.append(f"lookup {host}")
            raise socket.gaierror(socket.EAI_NONAME, f"test guard: no lookup of {host!r}")
        return real_lookup(host, *args, **kwargs)

    def check(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback(address[0]):
            REFUSED.append(f"connect {address[0]}")
            raise ConnectionRefusedError(f"test guard: no connection to {address[0]!r}")

    def connect(sock: socket.socket, address: Any) -> None:
        check(sock, address)
        return real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        check(sock, address)
        return real_connect_ex(sock, address)

    set_attr(socket, "getaddrinfo", lookup)
    set_attr(socket.socket, "connect", connect)
    set_attr(socket.socket, "connect_ex", connect_ex)
