"""The fastest service there is, to find the load generator's own limit: one
constant JSON answer, no I/O."""

BODY = b'{"ok": true}'


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": BODY})
