"""A local stand-in for Twilio's REST API (Messages and Video Rooms), RECIPES.md style.

Point the client at it with TWILIO_BASE_URL. It answers like Twilio: 201 with the resource's
JSON, errors as {"code", "message", "status"}. Behaviours worth faking are switches:
`throttle_next(n)` (429, code 20429), `outage = True` (503 on everything), `garbage_next(n)`
(a 200 that is not JSON), `delay` seconds before each answer, `answer_late_next(n, seconds)`
(the request is done, its answer comes too late), and `invalid_numbers` (400, code 21211). A room name in use answers 53113, as Twilio does.
"""

import contextlib
import json
import re
import threading
import uuid
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

ACCOUNT_SID = "AC" + "1" * 32


def _sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


class FakeTwilio:
    """The server and everything it was asked to do."""

    def __init__(self):
        self.messages: list[dict] = []
        self.rooms: dict[str, dict] = {}
        self.requests: list[tuple[str, str]] = []
        self.invalid_numbers: set[str] = set()
        self.outage = False
        self.delay = 0.0
        self._throttle = 0
        self._garbage = 0
        self._late: list[float] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeTwilio":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        with self._lock:
            self.messages.clear()
            self.rooms.clear()
            self.requests.clear()
            self.invalid_numbers.clear()
            self.outage, self.delay, self._throttle, self._garbage = False, 0.0, 0, 0
            self._late = []

    def throttle_next(self, n: int) -> None:
        with self._lock:
            self._throttle = n

    def garbage_next(self, n: int) -> None:
        with self._lock:
            self._garbage = n

    def answer_late_next(self, n: int, seconds: float) -> None:
        """Do the next n requests, but answer each only after `seconds` (a lost answer)."""
        with self._lock:
            self._late = [seconds] * n

    def take_late_answer(self) -> float:
        with self._lock:
            return self._late.pop() if self._late else 0.0

    def room_requests(self) -> int:
        return sum(1 for method, path in self.requests if "/Rooms" in path)

    # -- what the server answers --------------------------------------------------------

    def answer(self, method: str, path: str, form: dict) -> tuple[int, object]:
        with self._lock:
            self.requests.append((method, path))
            if self.outage:
                return 503, _error(20003, "Service unavailable", 503)
            if self._throttle > 0:
                self._throttle -= 1
                return 429, _error(20429, "Too Many Requests", 429)
            if self._garbage > 0:
                self._garbage -= 1
                return 200, b"<html>upstream proxy error</html>"
            parts = [unquote(p) for p in path.strip("/").split("/")]
            if (
                method == "POST"
                and parts[:2] == ["2010-04-01", "Accounts"]
                and parts[-1] == ("Messages.json")
            ):
                return self._create_message(parts[2], form)
            if method == "POST" and parts == ["v1", "Rooms"]:
                return self._create_room(form)
            if method == "GET" and len(parts) == 3 and parts[:2] == ["v1", "Rooms"]:
                return self._fetch_room(parts[2])
            return 404, _error(20404, f"The requested resource {path} was not found", 404)

    def _create_message(self, account_sid: str, form: dict) -> tuple[int, object]:
        to = form.get("To", "")
        if to in self.invalid_numbers or not re.fullmatch(r"\+\d{8,15}", to):
            return 400, _error(21211, f"The 'To' number {to} is not a valid phone number.", 400)
        message = {
            "sid": _sid("SM"),
            "account_sid": account_sid,
            "status": "accepted",
            "to": to,
            "from": None,
            "body": form.get("Body", ""),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "validity_period": int(form.get("ValidityPeriod", 36000)),
            "num_segments": "1",
            "direction": "outbound-api",
            "date_created": format_datetime(datetime.now(UTC), usegmt=True),
            "uri": f"/2010-04-01/Accounts/{account_sid}/Messages.json",
        }
        self.messages.append(message)
        return 201, message

    def _create_room(self, form: dict) -> tuple[int, object]:
        name = form.get("UniqueName") or _sid("RM")
        if name in self.rooms:
            return 400, _error(53113, "Room exists", 400)
        room = {
            "sid": _sid("RM"),
            "account_sid": ACCOUNT_SID,
            "status": "in-progress",
            "unique_name": name,
            "type": form.get("Type", "group"),
            "unused_room_timeout": int(form.get("UnusedRoomTimeout", 5)),
            "empty_room_timeout": int(form.get("EmptyRoomTimeout", 5)),
            "date_created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "url": f"https://video.twilio.com/v1/Rooms/{name}",
            "links": {},
        }
        self.rooms[name] = room
        return 201, room

    def _fetch_room(self, sid_or_name: str) -> tuple[int, object]:
        for room in self.rooms.values():
            if sid_or_name in (room["sid"], room["unique_name"]):
                return 200, room
        return 404, _error(20404, "The requested resource was not found", 404)

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _serve(self, method: str):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                form = {k: v[-1] for k, v in parse_qs(raw).items()}
                if fake.delay:
                    threading.Event().wait(fake.delay)
                status, body = fake.answer(method, urlparse(self.path).path, form)
                late = fake.take_late_answer()
                if late:  # done, but the answer comes too late for the caller
                    threading.Event().wait(late)
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(data)

            def do_POST(self):
                self._serve("POST")

            def do_GET(self):
                self._serve("GET")

        return Handler


def _error(code: int, message: str, status: int) -> dict:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
