# W4 TCP echo server on uvloop: the asyncio streams program, run on
# uvloop's loop.
import asyncio

import uvloop


async def echo(reader, writer):
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


async def main():
    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(f"W4 uvloop listening {port}", flush=True)
    await server.serve_forever()


with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
    runner.run(main())
