"""A small, real HTTP server for download tests (offline: it listens on 127.0.0.1 only).

A `LocalServer` maps URL paths to *behaviours*. A behaviour is any function that receives the
request handler and writes a response (or misbehaves). Faults are just more behaviours, so a
new fault test adds one small function here and nothing else:

    with LocalServer() as server:
        server.route("/ptb.train.txt", send_bytes(b"hello\\n"))
        server.route("/ptb.valid.txt", in_turn(send_status(500), send_bytes(b"ok\\n")))
        ...  # download from server.url
        assert server.count("/ptb.valid.txt") == 2

Unknown paths get a 404. Every request's path is logged in `server.requests`.
"""
from __future__ import annotations

import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

Behaviour = Callable[[BaseHTTPRequestHandler], None]


# -- behaviours -----------------------------------------------------------------------------
def send_bytes(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Behaviour:
    """A normal response: status, Content-Length, then the whole body."""

    def behave(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)

    return behave


def send_status(status: int) -> Behaviour:
    """An error response such as 404 or 500, with a short text body."""
    return send_bytes(f"status {status}\n".encode(), status=status)


def send_truncated(body: bytes, missing: int = 100) -> Behaviour:
    """Declare `missing` more bytes than are sent, then close the connection."""

    def behave(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body) + missing))
        handler.end_headers()
        handler.wfile.write(body)
        handler.wfile.flush()
        handler.close_connection = True

    return behave


def send_then_reset(body: bytes, sent: int) -> Behaviour:
    """Headers for all of `body`, its first `sent` bytes, then a TCP reset (SO_LINGER 0 + close)."""

    def behave(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body[:sent])
        handler.wfile.flush()
        _reset(handler)

    return behave


def stall(body: bytes, after_headers: bool = True) -> Behaviour:
    """Send the headers (or nothing), then no more bytes until the client gives up and hangs up."""

    def behave(handler: BaseHTTPRequestHandler) -> None:
        if after_headers:
            handler.send_response(200)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.flush()
        handler.connection.settimeout(10)  # a bound, in case the client never hangs up
        try:
            handler.rfile.read(1)  # returns b"" once the client closes its end
        except OSError:
            pass
        handler.close_connection = True

    return behave


def send_slowly(body: bytes, pieces: int = 4, pause: float = 0.05) -> Behaviour:
    """A normal response whose body arrives in `pieces`, `pause` seconds apart."""
    step = -(-len(body) // pieces)

    def behave(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        for start in range(0, len(body), step):
            handler.wfile.write(body[start : start + step])
            handler.wfile.flush()
            time.sleep(pause)

    return behave


def all_at_once(count: int, behaviour: Behaviour, timeout: float = 30.0) -> Behaviour:
    """Hold each request until `count` have arrived, so `count` downloads really overlap."""
    barrier = threading.Barrier(count, timeout=timeout)

    def behave(handler: BaseHTTPRequestHandler) -> None:
        barrier.wait()
        behaviour(handler)

    return behave


def in_turn(*behaviours: Behaviour) -> Behaviour:
    """The n-th request gets the n-th behaviour; the last one repeats (e.g. fail, then succeed)."""
    lock, calls = threading.Lock(), [0]

    def behave(handler: BaseHTTPRequestHandler) -> None:
        with lock:
            index = min(calls[0], len(behaviours) - 1)
            calls[0] += 1
        behaviours[index](handler)

    return behave


def _reset(handler: BaseHTTPRequestHandler) -> None:
    """Abort the connection: with SO_LINGER 0, closing sends RST instead of a polite FIN."""
    handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    handler.rfile.close()  # the socket's file descriptor closes only once its files are closed
    handler.connection.close()
    handler.close_connection = True


# -- the server -----------------------------------------------------------------------------
class LocalServer:
    """A `ThreadingHTTPServer` on 127.0.0.1 (a free port), run in a daemon thread."""

    def __init__(self) -> None:
        self.routes: dict[str, Behaviour] = {}
        self.requests: list[str] = []  # paths, in arrival order
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        # A short poll interval, or `close` waits up to half a second for the loop to notice.
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.01,), daemon=True)

    @property
    def url(self) -> str:
        """Base URL, without a trailing slash: `f"{server.url}/ptb.train.txt"`."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def route(self, path: str, behaviour: Behaviour) -> None:
        self.routes["/" + path.lstrip("/")] = behaviour

    def serve_files(self, files: dict[str, bytes]) -> None:
        """Serve each `name -> bytes` normally at `/name`."""
        for name, body in files.items():
            self.route(name, send_bytes(body))

    def count(self, path: str | None = None) -> int:
        """How many requests arrived (for one path, or in all)."""
        with self._lock:
            if path is None:
                return len(self.requests)
            return self.requests.count("/" + path.lstrip("/"))

    def start(self) -> "LocalServer":
        self._thread.start()
        return self

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "LocalServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the name http.server expects)
                with server._lock:
                    server.requests.append(self.path)
                behaviour = server.routes.get(self.path, send_status(404))
                behaviour(self)

            def log_message(self, format: str, *args: object) -> None:
                pass  # keep pytest output clean

        return Handler


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens, so connecting is refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
