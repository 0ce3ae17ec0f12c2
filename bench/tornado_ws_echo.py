"""Tornado's own WebSocket echo server, the Python peer in ws_bench.

Run: python3 bench/tornado_ws_echo.py --port 8891
"""
import argparse
import asyncio

import tornado.web
import tornado.websocket


class EchoSocket(tornado.websocket.WebSocketHandler):
    async def on_message(self, message):
        await self.write_message(message, binary=isinstance(message, bytes))


async def main(port):
    app = tornado.web.Application([(r"/", EchoSocket)], websocket_max_message_size=64 << 20)
    app.listen(port, address="127.0.0.1")
    print(f"tornado_ws_echo listening on ws://127.0.0.1:{port}/", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8891)
    asyncio.run(main(parser.parse_args().port))
