"""Patch flavours as kube-apiserver applies them: JSON merge, JSON patch (with its null-test quirk), approximate SSA."""
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
