"""`make lab` is safe: the server answers on 127.0.0.1 only, wants the token, and stops cleanly.

The server is started with the Makefile's own ``serve-lab`` target (see ``labserver.py``).
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import socket
from pathlib import Path

import pytest
from labserver import LabServer, start_lab_server

pytestmark = [
    pytest.mark.skipif(
        shutil.which("make") is None, reason="make not found: the lab server tests run `make serve-lab`"
    ),
    pytest.mark.timeout(300),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> LabServer:
    """One ``make serve-lab`` for the read-only checks of this module."""
    lab = start_lab_server(tmp_path_factory.mktemp("lab"))
    yield lab
    lab.stop()


def listening_addresses(port: int) -> list[str]:
    """Local addresses with a TCP socket in LISTEN state on ``port``, read from /proc/net/tcp{,6}.

    Args:
        port: the TCP port.

    Returns:
        addresses as strings ("127.0.0.1", "::1", "0.0.0.0", ...).
    """
    found = []
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, state = fields[1], fields[3]
            addr_hex, port_hex = local.split(":")
            if state != "0A" or int(port_hex, 16) != port:  # 0A = LISTEN
                continue
            raw = bytes.fromhex(addr_hex)
            # The kernel prints each 32-bit word in host (little-endian) order.
            raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found.append(str(ipaddress.ip_address(raw)) if width == 8 else str(ipaddress.IPv6Address(raw)))
    return found


def non_loopback_addresses() -> list[str]:
    """IPv4 addresses of this machine other than loopback, as far as they can be found offline."""
    candidates = set()
    try:
        candidates.update(info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET))
    except OSError:
        pass
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))  # TEST-NET address; a UDP connect sends nothing
            candidates.add(sock.getsockname()[0])
        except OSError:
            pass
    return sorted(a for a in candidates if not ipaddress.ip_address(a).is_loopback and a != "0.0.0.0")


def test_answers_on_localhost_with_token(server: LabServer) -> None:
    status, _, body = server.request(f"/api/status?token={server.token}")
    assert status == 200, body[:500]
    assert "started" in json.loads(body)
    status, _, body = server.request(f"/lab?token={server.token}")
    assert status == 200
    assert b"JupyterLab" in body


def test_refuses_requests_without_the_right_token(server: LabServer) -> None:
    assert server.request("/api/status")[0] == 403
    assert server.request("/api/status?token=wrong" + server.token)[0] == 403
    assert server.request("/api/contents/notebooks")[0] == 403
    status, headers, _ = server.request("/lab")
    assert status == 302 and headers["Location"].startswith("/login"), (status, headers)
    # The login page asks for the token; it does not let anyone in.
    status, _, body = server.request("/login")
    assert status == 200 and b"token" in body.lower()


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc/net/tcp to read bind addresses")
def test_listens_on_loopback_only(server: LabServer) -> None:
    addresses = listening_addresses(server.port)
    assert addresses, f"nothing listens on port {server.port}"
    assert all(ipaddress.ip_address(a).is_loopback for a in addresses), addresses
    for address in non_loopback_addresses():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            assert sock.connect_ex((address, server.port)) != 0, f"the server answers on {address}"


def test_stops_cleanly_with_its_kernels(tmp_path: Path) -> None:
    lab = start_lab_server(tmp_path)
    try:
        status, _, body = lab.request(f"/api/kernels?token={lab.token}", method="POST")
        assert status == 201, body[:500]
        kernel_id = json.loads(body)["id"]
        status, _, body = lab.request(f"/api/kernels/{kernel_id}?token={lab.token}")
        assert status == 200
    finally:
        leftovers = lab.stop(timeout=30)
    assert not lab.group_alive(), "processes of the server's group survived SIGTERM"
    assert leftovers == [], f"kernels outlived the server: {leftovers}"
    assert listening_addresses(lab.port) == []


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc/net/tcp to read bind addresses")
def test_bind_address_reader_sees_a_wildcard_listener() -> None:
    """The loopback check above would catch a server bound to every interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("0.0.0.0", 0))
        sock.listen()
        assert listening_addresses(sock.getsockname()[1]) == ["0.0.0.0"]
