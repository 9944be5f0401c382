"""aiohttp-per-call: a new aiohttp.ClientSession per request (`async with` inside the
loop; 5 GETs, 50 ms apart), body read with `await r.read()`. Leaving the `async with`
closes the session and its connector, so each connection carries one request.

    python aiohttp-per-call.py http://127.0.0.1:18224     (needs aiohttp)
"""
import asyncio
import sys

import aiohttp


async def main(base):
    for i in range(1, 6):
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{base}/item{i}.txt") as r:
                body = await r.read()
                print(f"GET /item{i}.txt -> {r.status}, {len(body)} bytes", file=sys.stderr)
        await asyncio.sleep(0.05)


asyncio.run(main(sys.argv[1]))
