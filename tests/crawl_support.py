"""Shared parts of the crawl tests: a real HTTP(S) server on 127.0.0.1, a fake clock, params helpers.

Nothing here touches a real site: every server binds 127.0.0.1 and every base URL points at it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

from sanchaek.config import params_from_dict
from sanchaek.config.crawl import FetchParams
from sanchaek.crawl.stage import run_crawl
from sanchaek.io import read_jsonl
from sanchaek.paths import Layout

FIXTURES = Path(__file__).parent / "fixtures" / "sites"
REPO = Path(__file__).resolve().parents[1]
BOARD = {"mid": "a20103000000", "bid": "0003"}


# --- local site server ------------------------------------------------------------------------


def route_key(target: str) -> str:
    """Path + sorted query, so the order of query parameters does not matter."""
    parts = urlsplit(target)
    query = sorted(parse_qsl(parts.query, keep_blank_values=True))
    return parts.path + ("?" + urlencode(query) if query else "")


Reply = tuple[int, dict, bytes | Iterable[bytes]]  # an iterable body is sent chunk by chunk (trickles)


class SiteServer:
    """Threaded http.server on a random port; routes are path(+query) -> reply or handler(hit_no)."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, Callable[[int], Reply]] = {}
        self.hits: dict[str, int] = {}
        self.log: list[tuple[str, str]] = []  # (path+query, user agent)
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                key = route_key(self.path)
                server.log.append((self.path, self.headers.get("User-Agent", "")))
                n = server.hits[key] = server.hits.get(key, 0) + 1
                handler = server.routes.get(key)
                status, headers, body = handler(n) if handler else (404, {}, b"not found")
                self.send_response(status)
                headers = {"Content-Type": "text/html; charset=utf-8", **headers}
                for name, value in headers.items():
                    if value is not None:
                        self.send_header(name, value)
                try:
                    if not isinstance(body, bytes):  # a trickle: no length, one chunk at a time, then close
                        self.send_header("Connection", "close")
                        self.end_headers()
                        for chunk in body:
                            self.wfile.write(chunk)
                            self.wfile.flush()
                        self.close_connection = True
                        return
                    if "Content-Length" not in headers:
                        self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # the crawler hung up, as some tests make it
                    self.close_connection = True
                    return
                if "Content-Length" in headers:  # a lying length: hang up mid-body
                    self.close_connection = True

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.base = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def fixture(self, name: str) -> bytes:
        return (FIXTURES / name).read_bytes().replace(b"{{BASE}}", self.base.encode())

    def add(
        self, target: str, body: bytes | str = b"", status: int = 200, headers: dict | None = None
    ) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.routes[route_key(target)] = lambda n: (status, headers or {}, data)

    def add_file(self, target: str, name: str, **kw) -> None:
        self.add(target, self.fixture(name), **kw)

    def handle(self, target: str, handler: Callable[[int], Reply]) -> None:
        self.routes[route_key(target)] = handler

    def paths(self) -> list[str]:
        return [urlsplit(p).path for p, _ in self.log]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class FakeClock:
    """Monotonic and wall time that only move when the crawler sleeps."""

    def __init__(self, wall: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self.t, self.wall, self.sleeps = 0.0, wall, []

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds
        self.wall += seconds

    def now(self) -> float:
        return self.wall


def fetch_params(**kw) -> FetchParams:
    base = dict(min_delay_s=0.0, max_retries=2, backoff_base_s=0.5, read_timeout_s=2.0, connect_timeout_s=2.0)
    return FetchParams(**{**base, **kw, "progress": False})


def crawl_params(**sections) -> dict:
    fetch = {
        "min_delay_s": 0.01,
        "max_retries": 1,
        "backoff_base_s": 0.01,
        "read_timeout_s": 2.0,
        "progress": False,
    }
    return {"sources": [], "fetch": fetch, **sections}


def run(tmp_path: Path, crawl: dict, clock=None, environ=None) -> tuple[dict, Layout]:
    layout = Layout(tmp_path)
    params = params_from_dict({"crawl": crawl}).crawl
    return run_crawl(params, layout, clock=clock or FakeClock(), environ=environ or {}), layout


def records(layout: Layout, source: str) -> list[dict]:
    return list(read_jsonl(layout.raw_file(source)))


def serve_munjang(server: SiteServer, pages: int = 3) -> None:
    server.add_file("/robots.txt", "munjang/robots.txt", headers={"Content-Type": "text/plain"})
    lists = {1: "munjang/list_1.html", 2: "munjang/list_2.html"}
    for n in range(1, pages + 2):
        target = "/board.es?" + urlencode({**BOARD, "act": "list", "ord": "OLD", "nPage": n})
        server.add_file(target, lists.get(n, "munjang/list_empty.html"))
    view = "/board.es?" + urlencode({**BOARD, "act": "view"}) + "&list_no="
    for no in (100001, 100002, 100003, 100004):
        server.add_file(view + str(no), f"munjang/view_{no}.html")
    server.add(view + "100005", status=404)
    whole = server.fixture("munjang/view_100001.html")
    server.add(view + "100006", whole[: whole.index(b"<h4>")])  # cut before any paragraph


def self_signed_tls(folder: Path) -> tuple[ssl.SSLContext, Path]:
    """A server context for 127.0.0.1/localhost and the PEM a client must trust to talk to it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem, key_pem = folder / "cert.pem", folder / "key.pem"
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_pem, key_pem)
    return context, cert_pem


def trickle(chunks: int, pause: float, chunk: bytes = b"<p>x</p>") -> Iterable[bytes]:
    yield b"<html><body>"
    for _ in range(chunks):
        time.sleep(pause)
        yield chunk
    yield b"</body></html>"


class ConnectProxy:
    """A forward proxy on 127.0.0.1 that only tunnels (CONNECT) to 127.0.0.1/localhost, as HTTPS_PROXY."""

    def __init__(self) -> None:
        import select
        import socket
        import socketserver

        self.tunnels: list[str] = []
        proxy = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                request = self.rfile.readline().decode("latin-1").split()
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                if len(request) < 2 or request[0] != "CONNECT":
                    self.wfile.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                    return
                host, _, port = request[1].rpartition(":")
                if host not in ("127.0.0.1", "localhost"):
                    self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                    return
                proxy.tunnels.append(request[1])
                upstream = socket.create_connection(("127.0.0.1", int(port)))
                self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                sockets = [self.connection, upstream]
                try:
                    while True:
                        ready, _, _ = select.select(sockets, [], [], 5)
                        if not ready:
                            return
                        for sock in ready:
                            data = sock.recv(65536)
                            if not data:
                                return
                            (upstream if sock is self.connection else self.connection).sendall(data)
                finally:
                    upstream.close()

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
