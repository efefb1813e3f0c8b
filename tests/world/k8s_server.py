"""Kubernetes API test double: kmock 0.8's HTTP server plus our store (tests/world/k8s/). See README.md.

usage: k8s_server.py --host 127.0.0.1 --port 0 --port-file FILE --kubeconfig KCFILE
                     [--crd CRD.yaml ...] [--bookmark-interval SECONDS] [--history N]
"""
import argparse
import asyncio
import os
import signal

import kmock
import yaml

from k8s.handler import World
from k8s.store import Store

KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- name: world
  cluster:
    server: http://{host}:{port}
users:
- name: world
  user:
    token: world-dummy-token
contexts:
- name: world
  context:
    cluster: world
    user: world
    namespace: default
current-context: world
"""


def write_atomically(path: str, text: str) -> None:
    with open(path + '.tmp', 'w') as f:
        f.write(text)
    os.replace(path + '.tmp', path)


async def main(args) -> None:
    store = Store(history=args.history)
    crds = store.resource('apiextensions.k8s.io', 'v1', 'customresourcedefinitions')
    for path in args.crd:
        with open(path) as f:
            for doc in yaml.safe_load_all(f):  # JSON is YAML too; multi-doc allowed
                if doc:
                    store.create(crds, None, doc)
    world = World(store=store, bookmark_interval=args.bookmark_interval)
    async with world, kmock.Server(world, host=args.host, port=args.port) as server:
        write_atomically(args.kubeconfig, KUBECONFIG.format(host=args.host, port=server.port))
        write_atomically(args.port_file, f'{server.port}\n')
        print(f'k8s double listening on http://{args.host}:{server.port}', flush=True)
        await asyncio.Event().wait()


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=0)
    parser.add_argument('--port-file', required=True)
    parser.add_argument('--kubeconfig', required=True)
    parser.add_argument('--crd', action='append', default=[])
    parser.add_argument('--bookmark-interval', type=float, default=10.0)
    parser.add_argument('--history', type=int, default=1000)
    # Exit at once on SIGTERM/SIGINT: a graceful aiohttp shutdown waits for open watch streams.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGINT, lambda *_: os._exit(0))
    asyncio.run(main(parser.parse_args()))
