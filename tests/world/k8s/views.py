"""Read-only documents: discovery, OpenAPI v3 stubs, version and server-side Table output."""
import datetime
import re

from k8s.store import Resource

VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch']


def version() -> dict:
    return {'major': '1', 'minor': '35', 'gitVersion': 'v1.35.0', 'gitCommit': '0' * 40, 'gitTreeState': 'clean',
            'buildDate': '2026-01-01T00:00:00Z', 'goVersion': 'go1.25.0', 'compiler': 'gc', 'platform': 'linux/amd64'}


def group_versions(resources) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in resources:
        if r.group and r.version not in out.setdefault(r.group, []):
            out[r.group].append(r.version)
    return out


def api_group(group: str, versions: list[str]) -> dict:
    gvs = [{'groupVersion': f'{group}/{v}', 'version': v} for v in versions]
    return {'name': group, 'versions': gvs, 'preferredVersion': gvs[0]}


def resource_list(group: str, version: str, resources) -> dict:
    """APIResourceList; a /status subresource is listed without shortNames (else kubectl warns of ambiguity)."""
    items = []
    for r in resources:
        if (r.group, r.version) != (group, version):
            continue
        items.append({'name': r.plural, 'singularName': r.singular, 'namespaced': r.namespaced, 'kind': r.kind,
                      'verbs': VERBS, 'shortNames': r.short_names, 'categories': r.categories})
        if r.status:
            items.append({'name': f'{r.plural}/status', 'singularName': '', 'namespaced': r.namespaced,
                          'kind': r.kind, 'verbs': ['get', 'patch', 'update']})
        if r.scale:  # /scale speaks autoscaling/v1 Scale, whatever the parent's group
            items.append({'name': f'{r.plural}/scale', 'singularName': '', 'namespaced': r.namespaced,
                          'group': 'autoscaling', 'version': 'v1', 'kind': 'Scale',
                          'verbs': ['get', 'patch', 'update']})
    return {'kind': 'APIResourceList', 'apiVersion': 'v1',
            'groupVersion': f'{group}/{version}' if group else version, 'resources': items}


def openapi_index(resources) -> dict:
    gvs = {('api/' + r.version) if not r.group else f'apis/{r.group}/{r.version}' for r in resources}
    return {'paths': {gv: {'serverRelativeURL': f'/openapi/v3/{gv}?hash=world'} for gv in sorted(gvs)}}


def openapi_gv(group: str, version: str, resources) -> dict:
    """Just enough OpenAPI v3 for kubectl: a PATCH operation per kind that declares the `fieldValidation` query
    parameter, so kubectl validates server-side instead of downloading schemas; no strategic-merge content type,
    so kubectl patches custom resources with JSON merge patches like it does against a real cluster."""
    paths = {}
    for r in resources:
        if (r.group, r.version) != (group, version):
            continue
        base = f'/apis/{group}/{version}' if group else f'/api/{version}'
        path = f'{base}/namespaces/{{namespace}}/{r.plural}/{{name}}' if r.namespaced else f'{base}/{r.plural}/{{name}}'
        paths[path] = {'patch': {
            'x-kubernetes-action': 'patch',
            'x-kubernetes-group-version-kind': {'group': group, 'version': version, 'kind': r.kind},
            'parameters': [{'name': n, 'in': 'query', 'schema': {'type': 'string'}}
                           for n in ('dryRun', 'fieldManager', 'fieldValidation', 'force')],
            'requestBody': {'content': {t: {'schema': {'type': 'object'}} for t in (
                'application/json-patch+json', 'application/merge-patch+json', 'application/apply-patch+yaml')}},
            'responses': {'200': {'description': 'OK'}}}}
    return {'openapi': '3.0.0', 'info': {'title': 'Kubernetes', 'version': 'v1.35.0'}, 'paths': paths,
            'components': {'schemas': {}}}


# ---- Table (kubectl get) ------------------------------------------------------------------------------------
_TOKEN = re.compile(r'\.([\w-]+)|\[(\d+|\*)\]|\[\?\(@\.([\w.-]+)\s*==\s*["\']([^"\']*)["\']\)\]')


def jsonpath(obj, expr: str) -> list:
    """The JSONPath subset CRD printer columns use: .a.b, [N], [*], [?(@.k=="v")]."""
    expr = expr.strip().strip('{}')
    values, pos = [obj], 0
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m:
            return []
        pos = m.end()
        field, index, fkey, fval = m.groups()
        nxt = []
        for v in values:
            if field is not None and isinstance(v, dict) and field in v:
                nxt.append(v[field])
            elif index is not None and isinstance(v, list):
                nxt.extend(v if index == '*' else v[int(index):int(index) + 1])
            elif fkey is not None and isinstance(v, list):
                nxt.extend(i for i in v if isinstance(i, dict) and str(_dig(i, fkey)) == fval)
        values = nxt
    return values


def _dig(obj, path):
    for p in path.split('.'):
        obj = obj.get(p) if isinstance(obj, dict) else None
    return obj


def human_age(ts: str) -> str:
    """metatable.ConvertToHumanReadableDateType: the server renders `date` cells as an age (like `5m`)."""
    try:
        t = datetime.datetime.strptime(ts, '%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=datetime.UTC)
    except (TypeError, ValueError):
        return '<invalid>'
    s = int((datetime.datetime.now(datetime.UTC) - t).total_seconds())
    m, h, d = s // 60, s // 3600, s // 86400
    if s < 0:
        return '0s'
    if s < 120:
        return f'{s}s'
    if m < 10:
        return f'{m}m{s % 60}s' if s % 60 else f'{m}m'
    if h < 3:
        return f'{m}m'
    if h < 8:
        return f'{h}h{m % 60}m' if m % 60 else f'{h}h'
    if h < 48:
        return f'{h}h'
    if h < 192:
        return f'{d}d{h % 24}h' if h % 24 else f'{d}d'
    return f'{d}d'


def _cell(col: dict, obj: dict):
    found = jsonpath(obj, col.get('jsonPath', ''))
    if not found or found[0] is None:
        return None
    if len(found) > 1:
        return ','.join(str(v) for v in found)
    v, t = found[0], col.get('type', 'string')
    if t == 'date':
        return human_age(v)
    if t == 'integer' and isinstance(v, (int, float)):
        return int(v)
    if t in ('number', 'boolean'):
        return v
    return v if isinstance(v, str) else str(v)


def columns(res: Resource) -> list[dict]:
    return res.columns if res.columns is not None else [
        {'name': 'Age', 'type': 'date', 'jsonPath': '.metadata.creationTimestamp'}]


def table(res: Resource, objs: list[dict], rv: str, include: str, headers: bool = True) -> dict:
    cols = columns(res)
    defs = [{'name': 'Name', 'type': 'string', 'format': 'name', 'priority': 0,
             'description': 'Name must be unique within a namespace.'}]
    defs += [{'name': c['name'], 'type': c.get('type', 'string'), 'format': c.get('format', ''),
              'description': c.get('description', ''), 'priority': c.get('priority', 0)} for c in cols]
    rows = []
    for o in objs:
        if include == 'None':
            ref = None
        elif include == 'Object':
            ref = o
        else:
            ref = {'kind': 'PartialObjectMetadata', 'apiVersion': 'meta.k8s.io/v1', 'metadata': o.get('metadata', {})}
        rows.append({'cells': [o['metadata']['name']] + [_cell(c, o) for c in cols], 'object': ref})
    out = {'kind': 'Table', 'apiVersion': 'meta.k8s.io/v1', 'metadata': {'resourceVersion': rv}, 'rows': rows}
    if headers:
        out['columnDefinitions'] = defs
    return out


def wants_table(accept: str) -> bool:
    return 'as=Table' in (accept or '')
