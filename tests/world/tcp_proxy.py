#!/usr/bin/env python3
"""A TCP forwarder that can hang: the partition a test puts between one client and a server.

    tcp_proxy.py --target 127.0.0.1:PORT --port 0 --port-file F

Bytes flow both ways until SIGUSR1: from then on nothing is forwarded in either direction and new
connections are accepted but never served — packets dropped, not refused, as a network partition
looks to the client. SIGUSR2 lets the held bytes through again. It speaks no protocol (TLS passes
through untouched), never contacts anything but --target, and dies with its parent test.
"""
import argparse
import asyncio
import ctypes
import os
import signal

flowing = asyncio.Event()


async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            await flowing.wait()
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def serve(target_host, target_port, port, port_file):
    async def handle(client_r, client_w):
        try:
            server_r, server_w = await asyncio.open_connection(target_host, target_port)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w))

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, flowing.clear)
    loop.add_signal_handler(signal.SIGUSR2, flowing.set)
    flowing.set()
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.sockets[0].getsockname()[1]))
    os.replace(port_file + ".tmp", port_file)
    async with server:
        await server.serve_forever()


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--target", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    a = ap.parse_args()
    ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    host, port = a.target.rsplit(":", 1)
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("tcp_proxy only forwards to loopback targets")
    asyncio.run(serve(host, int(port), a.port, a.port_file))


if __name__ == "__main__":
    main()
