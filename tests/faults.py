"""A fault-injecting HTTP proxy on loopback, between boto3 and the moto S3 server."""

from __future__ import annotations

import http.client
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

S3_ERROR = "<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{message}</Message></Error>"


@dataclass
class Fault:
    """Apply `kind` to the next `times` requests whose method and path match (None: every time)."""

    method: str
    path_contains: str
    # slowdown | reset | truncate | stall | forbidden | corrupt (one byte of the body flipped) | etag (listed
    # ETags replaced by 32 hex digits that are not the objects' MD5, as with customer-key encryption)
    kind: str
    times: int | None = 1
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        return method == self.method and self.path_contains in path and (self.times is None or self.hits < self.times)


class FaultProxy:
    def __init__(self, upstream: str, stall_seconds: float = 3.0) -> None:
        self.upstream = urlsplit(upstream)
        self.stall_seconds = stall_seconds
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def add(self, method: str, path_contains: str, kind: str, times: int | None = 1) -> Fault:
        fault = Fault(method, path_contains, kind, times)
        with self._lock:
            self.faults.append(fault)
        return fault

    def _take(self, method: str, path: str) -> str | None:
        with self._lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.hits += 1
                    self.requests.append((method, path, fault.kind))
                    return fault.kind
            self.requests.append((method, path, "ok"))
        return None

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                kind = proxy._take(self.command, self.path)
                if kind == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                    self.close_connection = True
                    return
                if kind in ("slowdown", "forbidden"):
                    status, code = (503, "SlowDown") if kind == "slowdown" else (403, "AccessDenied")
                    self._reply(
                        status,
                        S3_ERROR.format(code=code, message=f"injected {kind}").encode(),
                        {"Content-Type": "application/xml"},
                    )
                    return
                if kind == "stall":
                    time.sleep(proxy.stall_seconds)
                upstream = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=30)
                upstream.request(self.command, self.path, body=body or None, headers=dict(self.headers))
                response = upstream.getresponse()
                payload = response.read()
                headers = {
                    k: v for k, v in response.getheaders() if k.lower() not in ("transfer-encoding", "connection")
                }
                upstream.close()
                if kind == "truncate":
                    headers["Content-Length"] = str(len(payload))
                    self.send_response(response.status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(payload[: len(payload) // 2])
                    self.wfile.flush()
                    self.connection.close()
                    self.close_connection = True
                    return
                if kind == "etag":
                    payload = re.sub(rb"(<ETag>[^<0-9a-f]*)[0-9a-f]{32}", rb"\g<1>" + b"e" * 32, payload)
                if kind == "corrupt":
                    middle = len(payload) // 2
                    payload = payload[:middle] + bytes([payload[middle] ^ 0xFF]) + payload[middle + 1 :]
                self._reply(response.status, payload, headers)

            def _reply(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                headers = {**headers, "Content-Length": str(len(payload))}
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward

        return Handler
