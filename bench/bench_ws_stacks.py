"""Which WebSocket stack to serve on (issue: measure before committing): server-to-client push
throughput of 200-byte text frames on loopback, one client, for aiohttp (the one openmlink uses,
since it also serves REST on the same port), the websockets library, and picows. The client is
the same aiohttp client in every case, in its own process.

Usage: python bench/bench_ws_stacks.py [frames]
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import socket
import sys
import time

FRAME = b'{"header":{"mTyp":"StockBookQuote"},"message":{"pkey":{"ticker":{"at":"EQT","ts":"NMS",' \
        b'"tk":"AAPL"}},"bidPrice1":150.25,"askPrice1":150.26,"bidSize1":300,"askSize1":200}}'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_aiohttp(port: int, n: int) -> None:
    from aiohttp import WSMsgType, web

    async def h(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        for _ in range(n):
            await ws.send_frame(FRAME, WSMsgType.TEXT)
        await ws.close()
        return ws
    app = web.Application()
    app.router.add_get("/", h)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def serve_websockets(port: int, n: int) -> None:
    import websockets

    async def h(ws) -> None:  # type: ignore[no-untyped-def]
        text = FRAME.decode()
        for _ in range(n):
            await ws.send(text)
    async def main() -> None:
        async with websockets.serve(h, "127.0.0.1", port, compression=None):
            await asyncio.Future()
    asyncio.run(main())


def serve_picows(port: int, n: int) -> None:
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_create_server

    class L(WSListener):
        def on_ws_connected(self, t: WSTransport) -> None:
            async def push() -> None:
                for i in range(n):
                    t.send(WSMsgType.TEXT, FRAME)
                    if i % 256 == 0:
                        await asyncio.sleep(0)
                t.send_close()
            asyncio.get_running_loop().create_task(push())

        def on_ws_frame(self, t: WSTransport, f: WSFrame) -> None:
            pass

    async def main() -> None:
        srv = await ws_create_server(lambda _: L(), "127.0.0.1", port)
        await srv.serve_forever()
    asyncio.run(main())


def client(port: int, q: mp.Queue) -> None:  # type: ignore[type-arg]
    import aiohttp

    async def main() -> tuple[int, float]:
        async with aiohttp.ClientSession() as s, s.ws_connect(f"ws://127.0.0.1:{port}/") as ws:
            t = time.perf_counter()
            k = 0
            async for m in ws:
                if m.type == aiohttp.WSMsgType.TEXT:
                    k += 1
            return k, time.perf_counter() - t
    q.put(asyncio.run(main()))


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300_000
    for name, fn in (("aiohttp", serve_aiohttp), ("websockets", serve_websockets), ("picows", serve_picows)):
        port = free_port()
        srv = mp.Process(target=fn, args=(port, n), daemon=True)
        srv.start()
        time.sleep(1.0)
        q: mp.Queue = mp.Queue()  # type: ignore[type-arg]
        c = mp.Process(target=client, args=(port, q))
        c.start()
        k, el = q.get(timeout=300)
        c.join()
        srv.terminate()
        print(f"{name:10s}: {k:,} frames in {el:.2f} s = {k / el:,.0f} frames/s to one client")


if __name__ == "__main__":
    main()
