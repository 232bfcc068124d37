"""SES without AWS: moto's server, and a proxy in front of it for what moto does not do.

moto records every send; `MotoSes.bulk_calls()` reads that record (GET /moto-api/data.json),
so tests count the calls SES received, not the calls the code believes it made. moto does
not throttle, so `ThrottlingSes` answers SES's own Throttling error (HTTP 400, code
Throttling, "Maximum sending rate exceeded.") for the next n bulk sends, garbage for others,
or holds one bulk send until told to let it through, and forwards the rest to moto.
"""

import http.client
import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from moto.server import ThreadedMotoServer

THROTTLING_BODY = b"""<ErrorResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/">
  <Error><Type>Sender</Type><Code>Throttling</Code><Message>Maximum sending rate exceeded.</Message></Error>
  <RequestId>5d5e2f2a-0000-4000-8000-000000000000</RequestId>
</ErrorResponse>"""


class MotoSes:
    """moto's server in this process, on a free port."""

    def __init__(self):
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)

    def start(self) -> "MotoSes":
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    @property
    def url(self) -> str:
        host, port = self.server.get_host_and_port()
        return f"http://{host}:{port}"

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")  # noqa: S310
        urllib.request.urlopen(request).close()  # noqa: S310 (a local http URL)

    def data(self) -> dict:
        with urllib.request.urlopen(f"{self.url}/moto-api/data.json") as answer:  # noqa: S310
            return json.load(answer)

    def bulk_calls(self) -> list[dict]:
        """Every send_bulk_templated_email SES accepted, each with its `destinations`."""
        return self.data().get("ses", {}).get("BulkTemplateMessage", [])

    def recipients(self) -> list[str]:
        """Every address a bulk send went to, once per delivery (duplicates kept)."""
        return [
            address
            for call in self.bulk_calls()
            for destination in call["destinations"]
            for address in destination["Destination"]["ToAddresses"]
        ]


class ThrottlingSes:
    """A proxy to moto that throttles, garbles or holds the bulk sends you pick."""

    def __init__(self, upstream: str):
        self.upstream = upstream.removeprefix("http://")
        self.bulk_requests = 0
        self.held = threading.Event()
        self.release = threading.Event()
        self._throttle = 0
        self._garbage = 0
        self._hold_at: int | None = None
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "ThrottlingSes":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    def throttle_next(self, n: int) -> None:
        """Answer Throttling to the next n bulk sends (nothing reaches moto)."""
        self._throttle = n

    def garbage_next(self, n: int) -> None:
        """Let the next n bulk sends reach moto, then answer the caller with garbage."""
        self._garbage = n

    def hold_call(self, number: int) -> None:
        """Hold the bulk send with this number (1-based) until `release` is set; `held` tells."""
        self._hold_at = number

    def _decide(self, body: bytes) -> str:
        if parse_qs(body.decode()).get("Action") != ["SendBulkTemplatedEmail"]:
            return "forward"
        with self._lock:
            self.bulk_requests += 1
            if self._throttle > 0:
                self._throttle -= 1
                return "throttle"
            if self._hold_at == self.bulk_requests:
                return "hold"
            if self._garbage > 0:
                self._garbage -= 1
                return "garbage"
        return "forward"

    def _forward(self, method: str, path: str, headers, body: bytes) -> tuple[int, list, bytes]:
        connection = http.client.HTTPConnection(self.upstream, timeout=30)
        try:
            forwarded = {k: v for k, v in headers.items() if k.lower() != "host"}
            connection.request(method, path, body=body, headers=forwarded)
            answer = connection.getresponse()
            return answer.status, answer.getheaders(), answer.read()
        finally:
            connection.close()

    def _handler_class(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                decision = proxy._decide(body)
                if decision == "throttle":
                    self._reply(400, [("Content-Type", "text/xml")], THROTTLING_BODY)
                    return
                if decision == "hold":
                    proxy.held.set()
                    proxy.release.wait(60)
                # The request reached "SES": it is processed even if the caller is gone.
                status, headers, data = proxy._forward("POST", self.path, self.headers, body)
                if decision == "garbage":
                    status, headers, data = 200, [("Content-Type", "text/xml")], b"<html>oops"
                self._reply(status, headers, data)

            def _reply(self, status: int, headers, data: bytes):
                try:
                    self.send_response(status)
                    for key, value in headers:
                        if key.lower() not in {"content-length", "transfer-encoding", "connection"}:
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler
