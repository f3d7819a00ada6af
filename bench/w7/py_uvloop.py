# W7/W8 TLS echo server on uvloop: the asyncio streams program with `ssl`,
# run on uvloop's loop.
# Usage: python3 bench/w7/py_uvloop.py CERT.pem KEY.pem
import asyncio
import ssl
import sys

import uvloop


async def echo(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    writer.close()


async def main():
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(sys.argv[1], sys.argv[2])
    server = await asyncio.start_server(echo, "127.0.0.1", 0, ssl=ctx)
    port = server.sockets[0].getsockname()[1]
    print(f"W7 uvloop listening {port}", flush=True)
    await server.serve_forever()


with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
    runner.run(main())
