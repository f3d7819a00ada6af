# W4 TCP echo server on CPython asyncio streams: listens on 127.0.0.1 on a
# free port, prints "W4 asyncio listening PORT", and writes back whatever
# each connection sends until it is killed.
import asyncio


async def echo(reader, writer):
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


async def main():
    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(f"W4 asyncio listening {port}", flush=True)
    await server.serve_forever()


asyncio.run(main())
