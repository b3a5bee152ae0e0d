"""Stands in for a change that made the service slower: with
EXAMPLE_DELAY_MS set, every HTTP request waits that long first. Loaded with
Datasette's --plugins-dir; nothing happens without the variable."""

import asyncio
import os

from datasette import hookimpl


@hookimpl
def asgi_wrapper(datasette):
    delay_s = float(os.environ.get("EXAMPLE_DELAY_MS", "0")) / 1000

    def wrap(app):
        async def slowed(scope, receive, send):
            if delay_s and scope["type"] == "http":
                await asyncio.sleep(delay_s)
            await app(scope, receive, send)

        return slowed

    return wrap
