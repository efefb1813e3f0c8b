"""HTTP routing behind kmock's aiohttp server (kmock.Server + kmock.RawHandler): REST verbs, watch streams,
discovery and the /_world control API."""
import asyncio
import collections
import copy
import json
import time

import aiohttp.web
import attrs
import kmock
import yaml

from k8s import views
from k8s.errors import ApiError
from k8s.store import Resource, Store, selector


def parse_path(path: str):
    """(group, version, namespace, plural, name, subresource) or None. kmock's own parser fails on /api/v1/namespaces."""
    parts = [p for p in path.split('/') if p]
    if parts[:1] == ['api'] and len(parts) >= 2:
        group, version, rest = '', parts[1], parts[2:]
    elif parts[:1] == ['apis'] and len(parts) >= 3:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    ns = None
    if len(rest) >= 3 and rest[0] == 'namespaces' and rest[2] not in ('status', 'finalize'):
        ns, rest = rest[1], rest[2:]
    if not rest:
        return (group, version, None, None, None, None)
    return (group, version, ns, rest[0], rest[1] if len(rest) > 1 else None, '/'.join(rest[2:]) or None)


# request bodies the double cannot decode (kube-apiserver also takes protobuf and CBOR)
NON_JSON = ('application/vnd.kubernetes.protobuf', 'application/cbor', 'application/cbor-seq')


def json_response(data, status=200) -> aiohttp.web.Response:
    return aiohttp.web.json_response(data, status=status)


@attrs.define(kw_only=True)
class World(kmock.RawHandler):
    store: Store = attrs.field(default=None)
    bookmark_interval: float = 10.0
    stats: collections.Counter = attrs.field(factory=collections.Counter)

    async def __call__(self, raw: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        await raw.read()
        try:
            if raw.path.startswith('/_world/'):
                return await self.control(raw)
            response = await self.discovery(raw)
            if response is not None:
                return response
            route = parse_path(raw.path)
            if route is not None and route[3] is not None:
                return await self.rest(raw, *route)
            raise ApiError(404, 'NotFound', 'the server could not find the requested resource')  # any other path
        except ApiError as e:
            return json_response(e.status(), e.code)

    # ---- /_world control API --------------------------------------------------------------------------------
    async def control(self, raw):
        if raw.method == 'GET' and raw.path == '/_world/stats':
            return json_response({'requests': dict(sorted(self.stats.items())), 'resourceVersion': str(self.store.rv)})
        if raw.method == 'POST' and raw.path == '/_world/stats/reset':
            self.stats.clear()
            return json_response({'requests': {}})
        if raw.method == 'POST' and raw.path == '/_world/compact':
            return json_response({'resourceVersion': str(self.store.compact())})
        raise ApiError(404, 'NotFound', f'unknown control endpoint {raw.method} {raw.path}')

    # ---- discovery, version, openapi ------------------------------------------------------------------------
    async def discovery(self, raw):
        if raw.method != 'GET':
            return None
        path, resources = raw.path.rstrip('/') or '/', list(self.store.resources.values())
        gvs = views.group_versions(resources)
        if path == '/version':
            return json_response(views.version())
        if path in ('/healthz', '/readyz', '/livez'):
            return aiohttp.web.Response(text='ok')
        if path == '/':
            return json_response({'paths': sorted(['/api', '/api/v1', '/apis', '/version', '/openapi/v3']
                                                  + [f'/apis/{g}' for g in gvs])})
        if path == '/api':  # legacy discovery documents (kubectl falls back to them from the aggregated ones)
            return json_response({'kind': 'APIVersions', 'versions': ['v1'], 'serverAddressByClientCIDRs': [
                {'clientCIDR': '0.0.0.0/0', 'serverAddress': raw.host}]})
        if path == '/apis':
            return json_response({'kind': 'APIGroupList', 'apiVersion': 'v1',
                                  'groups': [views.api_group(g, vs) for g, vs in gvs.items()]})
        if path == '/api/v1':
            return json_response(views.resource_list('', 'v1', resources))
        if path.startswith('/apis/') and path.count('/') == 2:
            group = path.split('/')[2]
            if group not in gvs:
                raise ApiError(404, 'NotFound', 'the server could not find the requested resource')
            return json_response({'kind': 'APIGroup', 'apiVersion': 'v1', **views.api_group(group, gvs[group])})
        if path.startswith('/apis/') and path.count('/') == 3:
            _, _, group, version = path.split('/')
            if version not in gvs.get(group, []):
                raise ApiError(404, 'NotFound', 'the server could not find the requested resource')
            return json_response(views.resource_list(group, version, resources))
        if path == '/openapi/v3':
            return json_response(views.openapi_index(resources))
        if path.startswith('/openapi/v3/'):
            route = parse_path(path[len('/openapi/v3'):])
            if route is None:
                raise ApiError(404, 'NotFound', 'the server could not find the requested resource')
            return json_response(views.openapi_gv(route[0], route[1], resources))
        if path == '/openapi/v2':  # no v2 document: kubectl 1.35 uses v3 (validation, patch strategy)
            raise ApiError(404, 'NotFound', 'the server could not find the requested resource')
        return None

    # ---- REST -----------------------------------------------------------------------------------------------
    async def rest(self, raw, group, version, ns, plural, name, sub):
        res = self.store.resource(group, version, plural)
        q = raw.query
        watch = q.get('watch') in ('true', '1')
        verb = {'GET': 'WATCH' if watch else ('GET' if name else 'LIST'), 'POST': 'CREATE', 'PUT': 'UPDATE',
                'PATCH': 'PATCH', 'DELETE': 'DELETE' if name else 'DELETECOLLECTION'}.get(raw.method, raw.method)
        self.stats[f'{verb} {plural}{"/" + sub if sub else ""}'] += 1
        if sub not in (None, 'status', 'scale') or (sub == 'status' and not res.status) or \
                (sub == 'scale' and not (res.scale and name)):
            raise ApiError(404, 'NotFound', 'the server could not find the requested resource')
        ctype = raw.headers.get('Content-Type', '').split(';')[0].strip()
        if raw.method in ('POST', 'PUT', 'PATCH', 'DELETE') and ctype in NON_JSON:
            # an undecodable body is 415, as on the real server (client-go falls back to JSON only from CBOR)
            raise ApiError(415, 'UnsupportedMediaType', 'the body of the request was in an unknown format - accepted '
                           f'media types include: application/json, application/yaml ({ctype} is not decoded here)')
        if not res.namespaced:
            ns = None
        table = views.wants_table(raw.headers.get('Accept', ''))
        include = q.get('includeObject', 'Metadata')
        st = self.store
        if verb == 'WATCH':
            return await self.watch(raw, res, ns, name, table, include)
        if verb == 'LIST':
            items = [self.out(res, o) for o in st.list(res, ns, dict(q))]
            if table:
                return json_response(views.table(res, items, str(st.rv), include))
            return json_response({'kind': f'{res.kind}List', 'apiVersion': res.api_version,
                                  'metadata': {'resourceVersion': str(st.rv)}, 'items': items})
        if sub == 'scale':
            return await self.scale(raw, res, ns, name, verb, ctype)
        if verb == 'GET':
            obj = self.out(res, st.get(res, ns, name))
            return json_response(views.table(res, [obj], str(st.rv), include) if table else obj)
        body = self.body(await raw.read())
        if verb == 'CREATE':
            return json_response(self.out(res, st.create(res, ns, body)), 201)
        if verb == 'UPDATE':
            return json_response(self.out(res, st.replace(res, ns, name, body, sub)))
        if verb == 'PATCH':
            obj = st.patch(res, ns, name, ctype, body, sub, q.get('fieldManager'), q.get('force') == 'true')
            return json_response(self.out(res, obj))
        if verb == 'DELETE':
            return json_response(self.out(res, st.delete(res, ns, name, body if isinstance(body, dict) else None)))
        if verb == 'DELETECOLLECTION':
            deleted = [st.delete(res, ns, o['metadata']['name'], None) for o in st.list(res, ns, dict(q))]
            return json_response({'kind': f'{res.kind}List', 'apiVersion': res.api_version,
                                  'metadata': {'resourceVersion': str(st.rv)}, 'items': deleted})
        raise ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource')

    async def scale(self, raw, res, ns, name, verb, ctype):
        """The /scale subresource: an autoscaling/v1 Scale over .spec.replicas (GET, PUT, PATCH)."""
        if verb == 'GET':
            return json_response(self.store.scale(res, ns, name))
        if verb in ('UPDATE', 'PATCH'):
            body = self.body(await raw.read())
            return json_response(self.store.write_scale(res, ns, name, ctype if verb == 'PATCH' else None, body))
        raise ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource')

    @staticmethod
    def body(data: bytes):
        text = data.decode() if data else ''
        if not text.strip():
            return None
        try:
            return json.loads(text)
        except ValueError:
            try:  # server-side apply bodies may be YAML
                return yaml.safe_load(text)
            except yaml.YAMLError as e:
                raise ApiError(400, 'BadRequest', f'the request body is not valid JSON or YAML: {e}')

    @staticmethod
    def out(res: Resource, obj: dict) -> dict:
        obj['apiVersion'] = res.api_version  # one storage per kind, served at every version
        return obj

    # ---- watch ----------------------------------------------------------------------------------------------
    async def watch(self, raw, res, ns, name, table, include):
        st, q = self.store, raw.query
        params = dict(q)
        if name:  # a watch on one object is a field-selected watch
            params['fieldSelector'] = ','.join(filter(None, [params.get('fieldSelector'), f'metadata.name={name}']))
        match = self._matcher(ns, params)
        rv, initial = q.get('resourceVersion', ''), q.get('sendInitialEvents') == 'true'
        bookmarks = q.get('allowWatchBookmarks') == 'true'
        deadline = time.monotonic() + float(q['timeoutSeconds']) if q.get('timeoutSeconds') else None
        if rv and not rv.isdigit():
            raise ApiError(400, 'BadRequest', f'invalid resource version: {rv}')
        queue: asyncio.Queue = asyncio.Queue()
        entry = (res.gk, queue)
        st.watchers.add(entry)
        # Everything before the first await: snapshot and history are consistent with what the queue will get.
        if initial or rv in ('', '0'):  # no RV (or "0"): current state as ADDED, then changes
            first = [('ADDED', copy.deepcopy(o)) for o in st.objects[res.gk].values() if match(o)]
            if initial:  # streaming list: the end of the initial events is marked by an annotated BOOKMARK
                first.append(('BOOKMARK', self.bookmark(res, st.rv, {'k8s.io/initial-events-end': 'true'})))
        elif int(rv) < st.floor:  # too old for the kept history: 410 Gone as an ERROR event, like the real server
            first = [('ERROR', ApiError(410, 'Expired', f'too old resource version: {rv} ({st.floor})').status())]
        else:  # from a known RV: only the newer changes
            first = [e for c in st.history if c.gk == res.gk and c.rv > int(rv) for e in self._translate(c, match)]
        resp = aiohttp.web.StreamResponse(headers={'Content-Type': 'application/json'})  # kubectl needs JSON here
        resp.enable_chunked_encoding()
        headers_sent = False
        try:
            await resp.prepare(raw)
            headers_sent = True
            for kind, obj in first:
                await self.send(resp, res, kind, obj, table, include)
                if kind == 'ERROR':
                    return resp
            next_bookmark = time.monotonic() + self.bookmark_interval
            while True:
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    break  # timeoutSeconds: the server ends the watch
                if queue.empty() and now >= next_bookmark:  # nothing pending: every earlier event was sent
                    next_bookmark = now + self.bookmark_interval
                    if raw.transport is None or raw.transport.is_closing():
                        break  # the client went away
                    if bookmarks:  # periodic BOOKMARK carrying the current RV
                        await self.send(resp, res, 'BOOKMARK', self.bookmark(res, st.rv), table, include)
                    continue
                wait = min(next_bookmark, deadline if deadline is not None else next_bookmark) - now
                try:
                    change = queue.get_nowait() if not queue.empty() else await asyncio.wait_for(queue.get(), wait)
                except TimeoutError:
                    continue
                if change is None:  # /_world/compact closes open watches
                    break
                for kind, obj in self._translate(change, match):
                    await self.send(resp, res, kind, obj, table, include)
            await resp.write_eof()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            st.watchers.discard(entry)
        return resp if headers_sent else aiohttp.web.Response(status=500)

    @staticmethod
    def _matcher(ns, params):
        sel = selector(params)
        return lambda o: (ns is None or o['metadata'].get('namespace') == ns) and sel(o)

    @staticmethod
    def _translate(change, match):
        """A change seen through a selector: entering it is ADDED, leaving it is DELETED (like the watch cache)."""
        now, before = match(change.obj), change.prev is not None and match(change.prev)
        if change.type == 'MODIFIED' and now and not before:
            return [('ADDED', change.obj)]
        if change.type == 'MODIFIED' and before and not now:
            return [('DELETED', change.obj)]
        return [(change.type, change.obj)] if now or (change.type == 'DELETED' and before) else []

    @staticmethod
    def bookmark(res, rv, annotations=None):
        meta = {'resourceVersion': str(rv)}
        if annotations:
            meta['annotations'] = annotations
        return {'kind': res.kind, 'apiVersion': res.api_version, 'metadata': meta}

    async def send(self, resp, res, kind, obj, table, include):
        if kind in ('ADDED', 'MODIFIED', 'DELETED'):
            obj = self.out(res, copy.deepcopy(obj))
            if table:  # watch with as=Table (kubectl get -w): every event carries a one-row Table
                obj = views.table(res, [obj], obj['metadata']['resourceVersion'], include)
        await resp.write(json.dumps({'type': kind, 'object': obj}).encode() + b'\n')
