"""In-memory object store with kube-apiserver write semantics, resourceVersion history and watch fan-out."""
import asyncio
import collections
import copy
import dataclasses
import datetime
import re
import time
import uuid

from k8s import patches
from k8s.errors import ApiError


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%dT%H:%M:%SZ')


@dataclasses.dataclass
class Resource:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str = ''
    short_names: list = dataclasses.field(default_factory=list)
    categories: list = dataclasses.field(default_factory=list)
    status: bool = False  # has a /status subresource
    generation: bool = False  # metadata.generation is tracked (custom resources, CRDs, workloads)
    scale: bool = False  # has a /scale subresource (autoscaling/v1 Scale over .spec.replicas)
    annotations_bump: bool = False  # annotation changes bump generation too (Deployments copy them to ReplicaSets)
    columns: list | None = None  # CRD additionalPrinterColumns (None: built-in kind)
    builtin: bool = True

    @property
    def api_version(self) -> str:
        return f'{self.group}/{self.version}' if self.group else self.version

    @property
    def gk(self) -> tuple[str, str]:  # storage key shared by all versions of a kind
        return (self.group, self.plural)

    def qualified(self) -> str:
        return f'{self.plural}.{self.group}' if self.group else self.plural


@dataclasses.dataclass
class Change:
    rv: int
    gk: tuple
    type: str
    obj: dict
    prev: dict | None


BUILTINS = [  # names, scope, shortNames, categories and subresources as kube-apiserver v1.35 lists them
    Resource('', 'v1', 'namespaces', 'Namespace', False, 'namespace', ['ns'], status=True),
    Resource('', 'v1', 'events', 'Event', True, 'event', ['ev']),
    Resource('', 'v1', 'configmaps', 'ConfigMap', True, 'configmap', ['cm']),
    Resource('', 'v1', 'secrets', 'Secret', True, 'secret'),
    Resource('', 'v1', 'serviceaccounts', 'ServiceAccount', True, 'serviceaccount', ['sa']),
    Resource('', 'v1', 'services', 'Service', True, 'service', ['svc'], ['all'], status=True),
    # pods track metadata.generation since PodObservedGenerationTracking (GA in 1.35)
    Resource('', 'v1', 'pods', 'Pod', True, 'pod', ['po'], ['all'], status=True, generation=True),
    Resource('apps', 'v1', 'deployments', 'Deployment', True, 'deployment', ['deploy'], ['all'], status=True,
             generation=True, scale=True, annotations_bump=True),
    Resource('rbac.authorization.k8s.io', 'v1', 'roles', 'Role', True, 'role'),
    Resource('rbac.authorization.k8s.io', 'v1', 'rolebindings', 'RoleBinding', True, 'rolebinding'),
    Resource('rbac.authorization.k8s.io', 'v1', 'clusterroles', 'ClusterRole', False, 'clusterrole'),
    Resource('rbac.authorization.k8s.io', 'v1', 'clusterrolebindings', 'ClusterRoleBinding', False,
             'clusterrolebinding'),
    Resource('policy', 'v1', 'poddisruptionbudgets', 'PodDisruptionBudget', True, 'poddisruptionbudget', ['pdb'],
             status=True, generation=True),
    Resource('networking.k8s.io', 'v1', 'networkpolicies', 'NetworkPolicy', True, 'networkpolicy', ['netpol'],
             generation=True),
    Resource('events.k8s.io', 'v1', 'events', 'Event', True, 'event', ['ev']),
    Resource('coordination.k8s.io', 'v1', 'leases', 'Lease', True, 'lease'),
    Resource('apiextensions.k8s.io', 'v1', 'customresourcedefinitions', 'CustomResourceDefinition', False,
             'customresourcedefinition', ['crd', 'crds'], ['api-extensions'], status=True, generation=True),
]
SYSTEM_META = ('name', 'namespace', 'uid', 'creationTimestamp', 'deletionTimestamp',
               'deletionGracePeriodSeconds', 'generation', 'resourceVersion')


class Store:
    def __init__(self, history: int):
        # resourceVersion is seeded from the clock so that after a restart every old RV is "too old" (→ 410, re-list),
        # as etcd-compacted history would be on a real cluster.
        self.rv = int(time.time() * 1000)
        self.floor = self.rv  # watches from an RV below this get 410 Gone
        self.history: collections.deque[Change] = collections.deque()
        self.history_max = history
        self.resources: dict[tuple, Resource] = {}
        self.objects: dict[tuple, dict[tuple, dict]] = collections.defaultdict(dict)
        self.managed: dict[tuple, dict[tuple, set]] = {}  # (gk, ns, name) -> (manager, subresource) -> applied paths
        self.watchers: set[tuple[tuple, asyncio.Queue]] = set()
        for res in BUILTINS:
            self.resources[(res.group, res.version, res.plural)] = res
        nss = self.resource('', 'v1', 'namespaces')
        for ns in ('default', 'kube-system', 'kube-public', 'kube-node-lease'):
            self.create(nss, None, {'metadata': {'name': ns}})

    # ---- registry -------------------------------------------------------------------------------------------
    def resource(self, group: str, version: str, plural: str) -> Resource:
        res = self.resources.get((group, version, plural))
        if res is None:
            raise ApiError(404, 'NotFound', 'the server could not find the requested resource')
        return res

    # ---- commit / history -----------------------------------------------------------------------------------
    def _commit(self, res: Resource, kind: str, obj: dict, prev: dict | None) -> dict:
        self.rv += 1
        obj['metadata']['resourceVersion'] = str(self.rv)
        key = (obj['metadata'].get('namespace', ''), obj['metadata']['name'])
        if kind == 'DELETED':
            self.objects[res.gk].pop(key, None)
            self.managed.pop((res.gk, *key), None)
        else:
            self.objects[res.gk][key] = obj
        change = Change(self.rv, res.gk, kind, copy.deepcopy(obj), prev)
        self.history.append(change)
        while len(self.history) > self.history_max:  # the real watch cache keeps a bounded window too
            self.floor = self.history.popleft().rv
        for gk, q in list(self.watchers):
            if gk == res.gk:
                q.put_nowait(change)
        if res.gk == ('apiextensions.k8s.io', 'customresourcedefinitions'):
            self._sync_crd(obj, deleted=kind == 'DELETED')
        return copy.deepcopy(obj)

    def compact(self) -> int:
        """Drop the watch history, as etcd compaction after other writes would: every RV seen so far is now too old."""
        self.rv += 1
        self.floor = self.rv
        self.history.clear()
        for _, q in list(self.watchers):
            q.put_nowait(None)  # close open watches so clients resume (and meet the 410) now
        return self.rv

    # ---- reads ----------------------------------------------------------------------------------------------
    def get(self, res: Resource, ns: str | None, name: str) -> dict:
        obj = self.objects[res.gk].get((ns or '', name))
        if obj is None:
            raise ApiError(404, 'NotFound', f'{res.qualified()} "{name}" not found',
                           {'name': name, 'group': res.group, 'kind': res.plural})
        return copy.deepcopy(obj)

    def list(self, res: Resource, ns: str | None, params: dict) -> list[dict]:
        match = selector(params)
        return [copy.deepcopy(o) for (ons, _), o in sorted(self.objects[res.gk].items())
                if (ns is None or ons == ns) and match(o)]

    # ---- writes ---------------------------------------------------------------------------------------------
    def create(self, res: Resource, ns: str | None, body: dict) -> dict:
        if not isinstance(body, dict):
            raise ApiError(400, 'BadRequest', 'the request body is not a JSON object')
        obj = copy.deepcopy(body)
        meta = obj.setdefault('metadata', {})
        if not meta.get('name') and meta.get('generateName'):  # the server completes generateName
            meta['name'] = meta['generateName'] + uuid.uuid4().hex[:5]
        name = meta.get('name')
        if not name:
            raise ApiError(422, 'Invalid', f'{res.kind} "" is invalid: metadata.name: Required value: name or generateName is required')
        if res.namespaced:
            if ns and meta.get('namespace') not in (None, '', ns):
                raise ApiError(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request')
            meta['namespace'] = ns or meta.get('namespace') or 'default'
        else:
            meta.pop('namespace', None)
        key = (meta.get('namespace', ''), name)
        if key in self.objects[res.gk]:
            raise ApiError(409, 'AlreadyExists', f'{res.qualified()} "{name}" already exists',
                           {'name': name, 'group': res.group, 'kind': res.plural})
        for k in ('resourceVersion', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'managedFields'):
            meta.pop(k, None)
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=now_iso())
        if res.generation:
            meta['generation'] = 1
        obj['apiVersion'], obj['kind'] = res.api_version, res.kind
        if res.status:
            obj.pop('status', None)  # status is ignored on create when a status subresource exists
        if res.plural == 'customresourcedefinitions':
            obj['status'] = crd_status(obj)
        if res.plural == 'namespaces' and not res.group:
            obj['status'] = {'phase': 'Active'}
        return self._commit(res, 'ADDED', obj, None)

    def replace(self, res: Resource, ns: str | None, name: str, body: dict, sub: str | None) -> dict:
        old = self.get(res, ns, name)
        if not isinstance(body, dict):
            raise ApiError(400, 'BadRequest', 'the request body is not a JSON object')
        rv = (body.get('metadata') or {}).get('resourceVersion')
        if not rv and not res.builtin:  # custom resources do not allow unconditional update
            raise ApiError(422, 'Invalid', f'{res.kind}.{res.group} "{name}" is invalid: metadata.resourceVersion: '
                           'Invalid value: 0x0: must be specified for an update')
        if (body.get('metadata') or {}).get('name') not in (None, name):
            raise ApiError(400, 'BadRequest', 'the name of the object does not match the name on the URL')
        return self._update(res, old, copy.deepcopy(body), sub)

    def patch(self, res, ns, name, ctype: str, body, sub, manager: str | None, force: bool) -> dict:
        if ctype == 'application/apply-patch+yaml':
            return self.apply(res, ns, name, body, sub, manager)
        old = self.get(res, ns, name)
        return self._update(res, old, patched(res, old, ctype, body), sub)

    def apply(self, res, ns, name, body, sub, manager) -> dict:
        if not manager:
            raise ApiError(422, 'Invalid', 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch')
        if not isinstance(body, dict):
            raise ApiError(400, 'BadRequest', 'the apply configuration is not an object')
        mkey, owner = (res.gk, ns or '', name), (manager, sub)  # managedFields entries are per manager and subresource
        try:
            old = self.get(res, ns, name)
        except ApiError:
            if sub:  # apply to /status of a missing object is 404, as on the real server
                raise
            # server-side apply creates a missing object
            created = self.create(res, ns, {**body, 'metadata': {**(body.get('metadata') or {}), 'name': name}})
            self.managed.setdefault(mkey, {})[owner] = patches.field_paths(body)
            return created
        before = self.managed.get(mkey, {}).get(owner, set())
        new = patches.apply(old, body, before)
        result = self._update(res, old, new, sub)
        self.managed.setdefault(mkey, {})[owner] = patches.field_paths(body)
        return result

    def _update(self, res: Resource, old: dict, new: dict, sub: str | None) -> dict:
        """The shared tail of PUT/PATCH/apply: preconditions, subresource isolation, generation, no-op, finalizers."""
        meta = new.setdefault('metadata', {})
        name = old['metadata']['name']
        want = meta.get('resourceVersion')
        if want and want != old['metadata']['resourceVersion']:  # optimistic concurrency on metadata.resourceVersion
            raise ApiError(409, 'Conflict', f'Operation cannot be fulfilled on {res.qualified()} "{name}": the object has been '
                           'modified; please apply your changes to the latest version and try again',
                           {'name': name, 'group': res.group, 'kind': res.plural})
        if res.status and sub == 'status':  # /status takes only .status from the request
            new = {**copy.deepcopy(old), 'status': new.get('status')}
            if new['status'] is None:
                new.pop('status')
        elif res.status:  # the main endpoint ignores .status when a status subresource exists
            new.pop('status', None)
            if 'status' in old:
                new['status'] = copy.deepcopy(old['status'])
        meta = new.setdefault('metadata', {})
        for k in SYSTEM_META:  # the server owns identity, timestamps, generation and RV
            meta.pop(k, None)
            if k in old['metadata']:
                meta[k] = old['metadata'][k]
        meta.pop('managedFields', None)
        new['apiVersion'], new['kind'] = old.get('apiVersion', res.api_version), res.kind
        if meta.get('deletionTimestamp') and set(meta.get('finalizers') or []) - set(old['metadata'].get('finalizers') or []):
            raise ApiError(422, 'Invalid', f'{res.kind} "{name}" is invalid: metadata.finalizers: Forbidden: '
                           'no new finalizers can be added if the object is being deleted')
        if not meta.get('finalizers'):
            meta.pop('finalizers', None)
        # generation counts spec changes only (plus annotation changes for Deployments)
        bump = spec_of(res, new) != spec_of(res, old) or (
            res.annotations_bump and (meta.get('annotations') or {}) != (old['metadata'].get('annotations') or {}))
        if res.generation and bump:
            meta['generation'] = old['metadata'].get('generation', 1) + 1
        if new == old:  # a no-op write keeps the RV and emits no watch event
            return old
        if meta.get('deletionTimestamp') and not meta.get('finalizers'):  # last finalizer gone: delete now
            return self._commit(res, 'DELETED', new, old)
        return self._commit(res, 'MODIFIED', new, old)

    # ---- /scale ---------------------------------------------------------------------------------------------
    def scale(self, res: Resource, ns: str | None, name: str) -> dict:
        """GET /scale: the object's .spec.replicas seen as an autoscaling/v1 Scale, like the apps registry serves it."""
        return scale_of(self.get(res, ns, name))

    def write_scale(self, res: Resource, ns: str | None, name: str, ctype: str | None, body) -> dict:
        """PUT or PATCH /scale: only spec.replicas reaches the object (a spec change, so generation bumps)."""
        old = self.get(res, ns, name)
        current = scale_of(old)
        if ctype is None:
            new_scale = body
        elif ctype == 'application/apply-patch+yaml':  # applied as a merge: Scale has no managed fields here
            new_scale = patches.merge_patch(current, body)
        else:
            new_scale = patched(res, current, ctype, body)
        if not isinstance(new_scale, dict) or not isinstance((new_scale.get('spec') or {}).get('replicas', 0), int):
            raise ApiError(422, 'Invalid', f'Scale.autoscaling "{name}" is invalid: spec.replicas: Invalid value')
        new = copy.deepcopy(old)
        new.setdefault('spec', {})['replicas'] = (new_scale.get('spec') or {}).get('replicas', 0)
        new['metadata']['resourceVersion'] = (new_scale.get('metadata') or {}).get('resourceVersion') or \
            old['metadata']['resourceVersion']  # a Scale's resourceVersion is the parent's: same precondition
        return scale_of(self._update(res, old, new, None))

    def delete(self, res: Resource, ns: str | None, name: str, options: dict | None) -> dict:
        old = self.get(res, ns, name)
        pre = (options or {}).get('preconditions') or {}
        for field in ('uid', 'resourceVersion'):
            if pre.get(field) and pre[field] != old['metadata'].get(field):
                raise ApiError(409, 'Conflict', f'Operation cannot be fulfilled on {res.qualified()} "{name}": '
                               f'Precondition failed: {field} in precondition: {pre[field]}, '
                               f'{field} in object meta: {old["metadata"].get(field)}',
                               {'name': name, 'group': res.group, 'kind': res.plural})
        if old['metadata'].get('finalizers'):
            if old['metadata'].get('deletionTimestamp'):
                return old  # already terminating: nothing changes
            new = copy.deepcopy(old)
            new['metadata'].update(deletionTimestamp=now_iso(), deletionGracePeriodSeconds=0)
            return self._commit(res, 'MODIFIED', new, old)
        return self._commit(res, 'DELETED', copy.deepcopy(old), old)

    # ---- CRDs -----------------------------------------------------------------------------------------------
    def _sync_crd(self, crd: dict, deleted: bool):
        spec = crd.get('spec') or {}
        names, group = spec.get('names') or {}, spec.get('group', '')
        for key in [k for k, r in self.resources.items() if not r.builtin and r.gk == (group, names.get('plural'))]:
            del self.resources[key]
        if deleted:
            for (ns, name), obj in list(self.objects[(group, names.get('plural'))].items()):
                self.objects[(group, names.get('plural'))].pop((ns, name))
            return
        for v in spec.get('versions') or []:
            if v.get('served', True) is False:
                continue
            cols = v.get('additionalPrinterColumns')
            if cols is None:  # CRD defaulting adds an Age column when none is given
                cols = [{'name': 'Age', 'type': 'date', 'jsonPath': '.metadata.creationTimestamp'}]
            self.resources[(group, v['name'], names['plural'])] = Resource(
                group, v['name'], names['plural'], names['kind'], spec.get('scope', 'Namespaced') == 'Namespaced',
                names.get('singular') or names['kind'].lower(), list(names.get('shortNames') or []),
                list(names.get('categories') or []), status='status' in (v.get('subresources') or {}),
                generation=True, columns=cols, builtin=False)


def crd_status(crd: dict) -> dict:
    """What the apiextensions controllers write once a CRD is accepted (done synchronously here)."""
    spec = crd.get('spec') or {}
    cond = lambda t, r: {'type': t, 'status': 'True', 'reason': r, 'message': '', 'lastTransitionTime': now_iso()}
    stored = [v['name'] for v in spec.get('versions') or [] if v.get('storage')]
    return {'acceptedNames': spec.get('names') or {}, 'storedVersions': stored,
            'conditions': [cond('NamesAccepted', 'NoConflicts'), cond('Established', 'InitialNamesAccepted')]}


def patched(res: Resource, old: dict, ctype: str, body) -> dict:
    if ctype == 'application/json-patch+json':
        return patches.json_patch(old, body)
    if ctype == 'application/merge-patch+json':
        return patches.merge_patch(old, body)
    if ctype == 'application/strategic-merge-patch+json' and res.builtin:
        # strategic merge is served for built-in kinds only (kubectl apply sends it for them)
        return patches.strategic_merge_patch(old, body)
    # custom resources reject strategic merge patches with 415, like the real server
    raise ApiError(415, 'UnsupportedMediaType', 'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml')


def scale_of(obj: dict) -> dict:
    """autoscaling/v1 Scale: spec.replicas, status.replicas and the selector as a string, as for Deployments."""
    meta, spec = obj['metadata'], obj.get('spec') or {}
    sel = spec.get('selector') or {}
    terms = [f'{k}={v}' for k, v in sorted((sel.get('matchLabels') or {}).items())]
    for e in sel.get('matchExpressions') or []:
        op = {'In': 'in', 'NotIn': 'notin'}.get(e.get('operator'))
        terms.append(f'{e["key"]} {op} ({",".join(sorted(e.get("values") or []))})' if op else
                     (e['key'] if e.get('operator') == 'Exists' else f'!{e["key"]}'))
    return {'kind': 'Scale', 'apiVersion': 'autoscaling/v1',
            'metadata': {k: meta[k] for k in ('name', 'namespace', 'uid', 'resourceVersion', 'creationTimestamp')
                         if k in meta},
            'spec': {'replicas': spec.get('replicas', 1)},
            'status': {'replicas': (obj.get('status') or {}).get('replicas', 0), 'selector': ','.join(terms)}}


def spec_of(res: Resource, obj: dict) -> dict:
    skip = {'metadata', 'apiVersion', 'kind'} | ({'status'} if res.status else set())
    return {k: v for k, v in obj.items() if k not in skip}


def dig(obj, path: str):
    for part in path.split('.'):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


_LABEL = re.compile(r'^\s*(!?)([\w./-]+)\s*(?:(==|=|!=)\s*([\w./-]*)|\s+(in|notin)\s*\(([^)]*)\))?\s*$')


def selector(params: dict):
    """labelSelector (=, ==, !=, exists, !exists, in, notin) and fieldSelector (=, ==, != on dotted paths)."""
    checks = []
    for term in re.split(r',(?![^(]*\))', params.get('labelSelector') or ''):
        if not term.strip():
            continue
        m = _LABEL.match(term)
        if not m:
            raise ApiError(400, 'BadRequest', f'unable to parse requirement: {term!r}')
        neg, key, op, val, setop, vals = m.groups()
        lab = lambda o, key=key: (o.get('metadata') or {}).get('labels') or {}
        if setop:
            vs = {v.strip() for v in vals.split(',')}
            checks.append(lambda o, key=key, vs=vs, neg=setop == 'notin': (lab(o).get(key) in vs) != neg)
        elif op:
            checks.append(lambda o, key=key, val=val, neg=op == '!=': (lab(o).get(key) == val) != neg)
        else:
            checks.append(lambda o, key=key, neg=bool(neg): (key in lab(o)) != neg)
    for term in (params.get('fieldSelector') or '').split(','):
        if not term.strip():
            continue
        m = re.match(r'^\s*([\w.]+)\s*(==|=|!=)\s*(.*?)\s*$', term)
        if not m:
            raise ApiError(400, 'BadRequest', f'invalid field selector: {term!r}')
        path, op, val = m.groups()
        checks.append(lambda o, path=path, val=val, neg=op == '!=': (str(dig(o, path) or '') == val) != neg)
    return lambda o: all(c(o) for c in checks)
