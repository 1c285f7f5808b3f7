"""`hashwarden export rpz` (urllist/rpz.py): the URL list's domain entries as a Response Policy Zone, loaded into a
real unbound (Debian package) on a loopback port: a listed domain and its subdomains blocked (NXDOMAIN, or a CNAME
to the block page's host), an unlisted name and a host with only a page entry resolved; and no entry can inject a
line into the zone."""

from __future__ import annotations

import io
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rcode
import pytest

from hashwarden.store.urls import UrlEntry
from hashwarden.urllist.rpz import is_dns_name, write_rpz
from tests.test_cli import hw

ORIGIN = """$TTL 300
@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 300
@ NS localhost.
allowed A 192.0.2.10
listed A 192.0.2.11
sub.listed A 192.0.2.12
page A 192.0.2.13
block A 192.0.2.99
"""


def _entry(expression: str, kind: str = "domain") -> UrlEntry:
    return UrlEntry("0" * 32, expression, kind, None, None, None, None, "none", "t", 1)


def test_only_domain_entries_with_plain_dns_names_are_written() -> None:
    out = io.StringIO()
    result = write_rpz([_entry("a.example/"), _entry("b.example/x.html", "page"), _entry("c.example/dir/", "path"),
                        _entry("192.0.2.1/"), _entry("evil.example\n$INCLUDE /etc/passwd/"),
                        _entry("q%22uote.example/"), _entry("xn--bcher-kva.example/")], out, "rpz.test", 7)
    text = out.getvalue()
    assert result.written == 2 and result.skipped == 3
    assert "a.example CNAME .\n*.a.example CNAME .\n" in text and "xn--bcher-kva.example CNAME ." in text
    assert "b.example" not in text and "c.example" not in text  # a page or path never widens to its host
    assert "$INCLUDE" not in text and "passwd" not in text and '"' not in text
    assert text.count("\n") == 4 + 2 * 2 and " 7 3600 " in text  # 4 header lines; the serial: the version
    assert not is_dns_name("1.2.3.4") and not is_dns_name("a" * 64 + ".example") and is_dns_name("_dmarc.example")


@pytest.fixture
def listed_db(tmp_path: Path) -> Path:
    db = tmp_path / "db"
    hw("url", "add", "http://listed.example.test/", "--kind", "domain", db=db)
    hw("url", "add", "http://page.example.test/only/this.html", "--kind", "page", db=db)
    hw("url", "add", "http://allowed.example.test/dir/", "--kind", "path", db=db)
    return db


def _free_port() -> int:
    """A loopback port free for both UDP and TCP (unbound listens on both)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, \
                socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            try:
                tcp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def _unbound(folder: Path, rpz: Path) -> tuple[subprocess.Popen[Any], int]:
    """unbound on a free loopback port, answering; started again on another port if the port was taken between
    the probe and unbound's bind (the suite runs in parallel)."""
    for _ in range(5):
        server, port = _start_unbound(folder, rpz, _free_port())
        if server is not None:
            return server, port
    raise AssertionError("unbound could not bind a loopback port in 5 tries")


def _start_unbound(folder: Path, rpz: Path, port: int) -> tuple[subprocess.Popen[Any] | None, int]:
    (folder / "example.test.zone").write_text(ORIGIN)
    conf = folder / "unbound.conf"
    conf.write_text(f"""server:
  interface: 127.0.0.1
  port: {port}
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "{folder}"
  pidfile: "{folder}/unbound.pid"
  use-syslog: no
  logfile: ""
  verbosity: 1
  access-control: 127.0.0.0/8 allow
  module-config: "respip iterator"
  local-zone: "test." nodefault
auth-zone:
  name: "example.test."
  zonefile: "{folder}/example.test.zone"
  for-downstream: no
  for-upstream: yes
  fallback-enabled: no
rpz:
  name: "hw.rpz."
  zonefile: "{rpz}"
  rpz-log: yes
remote-control:
  control-enable: no
""")
    checked = subprocess.run(["unbound-checkconf", str(conf)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    server = subprocess.Popen(["unbound", "-d", "-c", str(conf)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            _ask(port, "allowed.example.test")
            return server, port
        except (dns.exception.Timeout, ConnectionRefusedError):
            if server.poll() is not None:
                log = server.stdout.read().decode(errors="replace")
                assert "Address already in use" in log, log
                return None, port
            time.sleep(0.2)
    server.kill()
    raise AssertionError("unbound did not answer in 20 s")


def _ask(port: int, name: str) -> Any:
    return dns.query.udp(dns.message.make_query(name, "A"), "127.0.0.1", port=port, timeout=2)


def _answers(reply: Any) -> list[str]:
    return sorted(f"{rrset.name} {dns.rdatatype.to_text(rrset.rdtype)} {item}"
                  for rrset in reply.answer for item in rrset)


@pytest.mark.heavy
@pytest.mark.parametrize("action", ["nxdomain", "cname"])
def test_unbound_blocks_listed_domains_and_their_subdomains(tmp_path: Path, listed_db: Path, action: str) -> None:
    rpz = tmp_path / "hw.rpz"
    options = ["--block-host", "block.example.test"] if action == "cname" else []
    written = hw("export", "rpz", "--zone", "hw.rpz", "-o", str(rpz), *options, db=listed_db)
    assert "1 domain entries written" in written.stderr
    server, port = _unbound(tmp_path, rpz)
    try:
        for name in ("listed.example.test", "sub.listed.example.test", "deep.sub.listed.example.test"):
            reply = _ask(port, name)
            if action == "nxdomain":
                assert dns.rcode.to_text(reply.rcode()) == "NXDOMAIN", name
            else:
                assert f"{name}. CNAME block.example.test." in _answers(reply), (name, _answers(reply))
        # a page entry and a path entry never block their host; an unlisted name resolves
        assert _answers(_ask(port, "page.example.test")) == ["page.example.test. A 192.0.2.13"]
        assert _answers(_ask(port, "allowed.example.test")) == ["allowed.example.test. A 192.0.2.10"]
    finally:
        server.kill()
        log = server.communicate(timeout=10)[0].decode(errors="replace")
    assert "rpz: applied" in log
