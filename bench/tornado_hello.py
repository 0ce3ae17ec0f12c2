"""Tornado's own "Hello, world", the Python peer in http_bench.sh.

Run: python3 bench/tornado_hello.py --port 8890
"""
import argparse
import asyncio

import tornado.web


class MainHandler(tornado.web.RequestHandler):
    def get(self):
        self.write("Hello, world")


async def main(port):
    app = tornado.web.Application([(r"/", MainHandler)])
    app.listen(port, address="127.0.0.1")
    print(f"tornado_hello listening on http://127.0.0.1:{port}/", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8890)
    asyncio.run(main(parser.parse_args().port))
