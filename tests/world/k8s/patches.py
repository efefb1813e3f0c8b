"""Patch flavours as kube-apiserver applies them: JSON merge, JSON patch (with its null-test quirk), strategic merge
(for built-in kinds), approximate SSA."""
import copy

import jsonpatch
import jsonpointer

from k8s.errors import ApiError


def merge_patch(target, patch):
    """RFC 7386: objects merge recursively, null deletes, everything else (lists included) replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


# patchMergeKey of the k8s.io/api list fields that merge by key (the rest replace whole, like `atomic` lists);
# `ports` merges by containerPort inside a container and by port in a Service spec.
MERGE_KEYS = {'containers': 'name', 'initContainers': 'name', 'ephemeralContainers': 'name', 'env': 'name',
              'volumes': 'name', 'volumeMounts': 'mountPath', 'volumeDevices': 'devicePath',
              'imagePullSecrets': 'name', 'hostAliases': 'ip', 'ownerReferences': 'uid', 'conditions': 'type',
              'topologySpreadConstraints': 'topologyKey', 'resourceClaims': 'name'}
CONTAINER_LISTS = {'containers', 'initContainers', 'ephemeralContainers'}
PRIMITIVE_MERGE = {'finalizers'}  # lists of strings with patchStrategy merge: the patch adds to the set


def strategic_merge_patch(target, patch, path=()):
    """Strategic merge patch as kubectl's client-side apply sends it: objects merge, null deletes, keyed lists merge
    by their patchMergeKey, and the directives $patch, $retainKeys, $setElementOrder/ and $deleteFromPrimitiveList/
    are obeyed (and never stored). Keys come from MERGE_KEYS, not from OpenAPI."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get('$patch') == 'replace':  # the patch is the whole new value
        return _strip({k: v for k, v in patch.items() if k != '$patch'})
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    orders = {}
    for k, v in patch.items():
        if k in ('$patch', '$retainKeys'):
            continue
        if k.startswith('$setElementOrder/'):
            orders[k.split('/', 1)[1]] = v
        elif k.startswith('$deleteFromPrimitiveList/'):
            field = k.split('/', 1)[1]
            out[field] = [x for x in out.get(field) or [] if x not in v]
        elif v is None:
            out.pop(k, None)
        elif isinstance(v, list) and _merge_key(k, path):
            out[k] = _merge_list(_list(out.get(k)), v, _merge_key(k, path), path + (k,))
        elif isinstance(v, list) and k in PRIMITIVE_MERGE:
            out[k] = _list(out.get(k)) + [x for x in v if x not in _list(out.get(k))]
        elif isinstance(v, dict) and v.get('$patch') == 'delete':
            out.pop(k, None)
        else:
            out[k] = strategic_merge_patch(out.get(k), v, path + (k,)) if isinstance(v, dict) else _strip(v)
    if '$retainKeys' in patch:  # fields missing from the list are cleared (e.g. a Deployment strategy switch)
        out = {k: v for k, v in out.items() if k in patch['$retainKeys']}
    for field, order in orders.items():
        out[field] = _reorder(out.get(field) or [], order, _merge_key(field, path))
    return out


def _merge_key(field: str, path: tuple) -> str | None:
    if field == 'ports':
        return 'containerPort' if path[-1:] and path[-1] in CONTAINER_LISTS else 'port'
    return MERGE_KEYS.get(field)


def _list(value) -> list:
    return value if isinstance(value, list) else []


def _merge_list(live: list, patch: list, key: str, path: tuple) -> list:
    if {'$patch': 'replace'} in patch:  # the list directive: the other items are the whole new list
        return [_strip(i) for i in patch if i != {'$patch': 'replace'}]
    out = copy.deepcopy(live)
    for item in patch:
        if not isinstance(item, dict):
            continue
        at = next((i for i, o in enumerate(out) if isinstance(o, dict) and o.get(key) == item.get(key)), None)
        if item.get('$patch') == 'delete':
            if at is not None:
                out.pop(at)
        elif at is None:
            out.append(_strip(item))
        else:
            out[at] = strategic_merge_patch(out[at], item, path)
    return out


def _reorder(items: list, order: list, key: str | None) -> list:
    ident = (lambda x: x.get(key) if isinstance(x, dict) else x) if key else (lambda x: x)
    wanted = [ident(o) for o in order]
    rank = {v: i for i, v in enumerate(wanted) if isinstance(v, (str, int))}
    return sorted(items, key=lambda x: rank.get(ident(x), len(rank)) if isinstance(ident(x), (str, int)) else len(rank))


def _strip(value):
    """A value copied from a patch, without directive keys."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if not k.startswith('$')}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return copy.deepcopy(value)


def json_patch(doc: dict, ops) -> dict:
    if not isinstance(ops, list):
        raise ApiError(400, 'BadRequest', 'json patch must be a list of operations')
    kept = []
    for op in ops:
        # the apiserver's json-patch treats a missing path as null, so `test path == null` passes on absence
        # (kube::runtime::finalizer sends exactly that before adding the first finalizer)
        if op.get('op') == 'test' and op.get('value') is None and not _exists(doc, op.get('path', '')):
            continue
        kept.append(op)
    try:
        return jsonpatch.apply_patch(doc, kept)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as e:
        # a failed test or a bad path is 422 Invalid on the real server, not a 500
        raise ApiError(422, 'Invalid', f'the server rejected our request due to an error in our request: {e}')


def _exists(doc, path: str) -> bool:
    try:
        jsonpointer.resolve_pointer(doc, path)
        return True
    except jsonpointer.JsonPointerException:
        return False


IGNORED_META = {'name', 'namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp',
                'deletionTimestamp', 'deletionGracePeriodSeconds', 'managedFields'}


def field_paths(config: dict, prefix=()) -> set:
    """The leaf paths an apply configuration sets. Lists are atomic (one path), like `x-kubernetes-list-type: atomic`."""
    out = set()
    for k, v in config.items():
        if not prefix and k in ('apiVersion', 'kind'):
            continue
        if prefix == ('metadata',) and k in IGNORED_META:
            continue
        if isinstance(v, dict) and v:
            out |= field_paths(v, prefix + (k,))
        else:
            out.add(prefix + (k,))
    return out


def apply(live: dict, config: dict, previously_applied: set) -> dict:
    """Approximate server-side apply for one field manager: drop the fields it applied before but omits now,
    then merge the configuration in (maps merge, lists replace). Conflicts between managers are not detected."""
    out = copy.deepcopy(live)
    for path in sorted(previously_applied - field_paths(config), key=len, reverse=True):
        parent = out
        for k in path[:-1]:
            parent = parent.get(k) if isinstance(parent, dict) else None
        if isinstance(parent, dict):
            parent.pop(path[-1], None)
    return _merge(out, {k: v for k, v in config.items() if k not in ('apiVersion', 'kind')})


def _merge(live, config):
    if not isinstance(config, dict) or not isinstance(live, dict):
        return copy.deepcopy(config)
    out = copy.deepcopy(live)
    for k, v in config.items():
        out[k] = _merge(out.get(k), v)
    return out
