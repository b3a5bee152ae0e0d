"""Header and body time-outs for uvicorn, which has neither.

uvicorn arms a keep-alive timer only between requests and cancels it on the
first byte of the next one, so a client that opens a connection and sends
nothing, or sends its request a byte at a time, holds a connection (and a file
descriptor) forever. This protocol gives every request head `header_timeout_s`
from the connection's start (or from its first byte, for a later request on a
kept-alive connection) and every body `body_timeout_s` from the end of the
head, as nginx's client_header_timeout and client_body_timeout do; past that
the client gets a 408 and the connection is closed.

Used as `uvicorn --http backend.app.client_timeouts:TimedHttpToolsProtocol`.
"""

from asyncio import TimerHandle

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from backend.app.config import get_settings


class TimedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        settings = get_settings()
        self.header_timeout_s = settings.header_timeout_s
        self.body_timeout_s = settings.body_timeout_s
        self.read_deadline: TimerHandle | None = None

    def _arm(self, seconds: float, in_body: bool) -> None:
        self._disarm()
        self.read_deadline = self.loop.call_later(seconds, self._read_timed_out, in_body)

    def _disarm(self) -> None:
        if self.read_deadline is not None:
            self.read_deadline.cancel()
            self.read_deadline = None

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout_s, in_body=False)  # nothing sent at all counts as a slow head

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.read_deadline is None:  # a later request on a kept-alive connection
            self._arm(self.header_timeout_s, in_body=False)

    def on_headers_complete(self) -> None:
        self._arm(self.body_timeout_s, in_body=True)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def _read_timed_out(self, in_body: bool) -> None:
        self.read_deadline = None
        if self.transport.is_closing():
            return
        # During a head, self.cycle is the previous request's: answer only once that answer is out.
        idle = self.cycle is None or (not self.cycle.response_started if in_body else self.cycle.response_complete)
        if idle:
            self.transport.write(STATUS_LINE[408] + b"content-length: 0\r\nconnection: close\r\n\r\n")
        if in_body and not self.cycle.response_complete:
            self.cycle.disconnected = True  # the application's receive() sees http.disconnect
            self.cycle.message_event.set()
        self.transport.close()
