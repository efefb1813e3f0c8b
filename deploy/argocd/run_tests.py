#!/usr/bin/env python3
"""Runs health.lua against health_test.yaml the way Argo CD's `go test ./util/lua/` does.

Argo CD evaluates health scripts in gopher-lua (Lua 5.1) with the object as the global `obj`, without
the os/io libraries. This runner uses lupa's Lua 5.1 runtime, removes os, io and the loaders, and
compares each returned {status, message} with the expected healthStatus. Exit code 1 on any mismatch.

Usage: run_tests.py [DIR]   (DIR defaults to this script's directory)
       run_tests.py --object FILE   (evaluates health.lua on one object, YAML or JSON, and prints
                                     {"status": ..., "message": ...} as JSON: for tests that check the
                                     script against live objects)
"""
import json
import os
import sys

import lupa.lua51 as lupa_lua51
import yaml


def to_lua(lua, value):
    if isinstance(value, dict):
        return lua.table_from({k: to_lua(lua, v) for k, v in value.items()})
    if isinstance(value, list):
        return lua.table_from([to_lua(lua, v) for v in value])
    return value


def evaluate(script, obj):
    """health.lua's {status, message} for one object, in a sandbox like Argo CD's."""
    lua = lupa_lua51.LuaRuntime(unpack_returned_tuples=True)
    for lib in ("os", "io", "require", "dofile", "loadfile", "package", "debug"):
        lua.execute("%s = nil" % lib)
    lua.globals().obj = to_lua(lua, obj)
    result = lua.execute(script)
    return {"status": result["status"], "message": result["message"]}


def run(directory):
    with open(os.path.join(directory, "health.lua"), encoding="utf-8") as f:
        script = f.read()
    with open(os.path.join(directory, "health_test.yaml"), encoding="utf-8") as f:
        tests = yaml.safe_load(f)["tests"]
    failures = 0
    for case in tests:
        with open(os.path.join(directory, case["inputPath"]), encoding="utf-8") as f:
            obj = yaml.safe_load(f)
        got = evaluate(script, obj)
        want = case["healthStatus"]
        ok = got["status"] == want["status"] and got.get("message") == want.get("message")
        print("%s %s: %s %r" % ("ok  " if ok else "FAIL", case["inputPath"], got["status"], got["message"]))
        if not ok:
            print("     want: %s %r" % (want["status"], want.get("message")))
            failures += 1
    print("%d tests, %d failed" % (len(tests), failures))
    return 1 if failures else 0


def evaluate_file(path):
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "health.lua"), encoding="utf-8") as f:
        script = f.read()
    with open(path, encoding="utf-8") as f:
        obj = yaml.safe_load(f)
    print(json.dumps(evaluate(script, obj)))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--object":
        sys.exit(evaluate_file(sys.argv[2]))
    sys.exit(run(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))))
