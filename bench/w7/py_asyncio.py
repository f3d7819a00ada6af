# W7/W8 TLS echo server on CPython asyncio streams with `ssl`: serves TLS
# with the certificate and key given (bench/run makes them), on 127.0.0.1
# on a free port, prints "W7 asyncio listening PORT", and writes back
# whatever each connection sends until it is killed.
# Usage: python3 bench/w7/py_asyncio.py CERT.pem KEY.pem
import asyncio
import ssl
import sys


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
    print(f"W7 asyncio listening {port}", flush=True)
    await server.serve_forever()


asyncio.run(main())
