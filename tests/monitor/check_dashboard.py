#!/usr/bin/env python3
"""Structural check of tools/grafana/edgefw-dashboard.json.

Valid JSON; a Grafana dashboard (title, uid, panels with unique ids and a
gridPos); every panel has targets, and every target's PromQL names only
metrics the exporter emits (the families of loader/monitor/prometheus.cpp or,
with --metrics FILE, the families present in a real /metrics exposition).
With --rules-out FILE it also writes each expression as a recording rule so
`promtool check rules` parses the PromQL.
"""
import argparse
import json
import re
import sys

NAME = re.compile(r"\b(edgefw_[a-zA-Z0-9_]+)\b")
# Every other identifier followed by '{' or that is a bare series name would be a metric too.
SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{")
PROMQL_FUNCS_AND_KEYWORDS = {"sum", "rate", "by", "without", "time", "max", "min", "avg", "count", "increase",
                             "label_values", "topk", "bottomk", "irate", "delta", "on", "ignoring", "group_left"}


def emitted_from_source(path):
    text = open(path).read()
    names = set(re.findall(r'Family\s+\w+\s*\{\s*"(edgefw_\w+)"', text))
    if not names:
        sys.exit(f"no metric families found in {path}")
    return names


def emitted_from_exposition(path):
    names = set()
    for line in open(path):
        m = re.match(r"# TYPE (\S+) ", line)
        if m:
            names.add(m.group(1))
    return names


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dashboard")
    ap.add_argument("--source", default="loader/monitor/prometheus.cpp")
    ap.add_argument("--metrics", help="a real /metrics exposition")
    ap.add_argument("--optional", action="append", default=[],
                    help="family that may be absent from --metrics (e.g. needs newer stats)")
    ap.add_argument("--rules-out")
    a = ap.parse_args()

    emitted = emitted_from_exposition(a.metrics) | set(a.optional) if a.metrics else emitted_from_source(a.source)
    errors = []
    try:
        d = json.load(open(a.dashboard))
    except (OSError, ValueError) as e:
        sys.exit(f"{a.dashboard}: not valid JSON: {e}")
    for key in ("title", "uid", "panels", "schemaVersion"):
        if key not in d:
            errors.append(f"dashboard has no '{key}'")
    ids = set()
    exprs = []
    used = set()
    for p in d.get("panels", []):
        where = f"panel {p.get('id')} '{p.get('title')}'"
        if not isinstance(p.get("id"), int) or p["id"] in ids:
            errors.append(f"{where}: missing or duplicate id")
        ids.add(p.get("id"))
        if not p.get("title") or not p.get("type"):
            errors.append(f"{where}: needs a title and a type")
        gp = p.get("gridPos", {})
        if not all(isinstance(gp.get(k), int) for k in ("x", "y", "w", "h")) or gp.get("x", 0) + gp.get("w", 0) > 24:
            errors.append(f"{where}: bad gridPos {gp}")
        targets = p.get("targets") or []
        if not targets:
            errors.append(f"{where}: no targets")
        for t in targets:
            e = t.get("expr", "")
            if not e:
                errors.append(f"{where}: target {t.get('refId')} has no expr")
                continue
            names = set(NAME.findall(e))
            if not names:
                errors.append(f"{where}: expr uses no edgefw metric: {e}")
            for n in names - emitted:
                errors.append(f"{where}: metric {n} is not emitted by the exporter")
            for s in SELECTOR.findall(e):
                if s not in emitted and s not in PROMQL_FUNCS_AND_KEYWORDS:
                    errors.append(f"{where}: selector {s}{{...}} is not an exporter metric")
            used |= names
            exprs.append(e)
    for must in ("edgefw_rule_packets_total", "edgefw_drops_total", "edgefw_conntrack_entries",
                 "edgefw_conntrack_entries_max"):
        if must not in used:
            errors.append(f"dashboard does not chart {must}")
    if errors:
        print("\n".join(f"{a.dashboard}: {e}" for e in errors), file=sys.stderr)
        sys.exit(1)
    if a.rules_out:
        # Grafana's variables become what Prometheus would see after substitution.
        def subst(e):
            return e.replace("$__rate_interval", "1m").replace("$__interval", "1m").replace(
                "$instance_name", ".*")
        with open(a.rules_out, "w") as f:
            f.write("groups:\n  - name: dashboard\n    rules:\n")
            for i, e in enumerate(exprs):
                f.write(f"      - record: edgefw_dashboard:expr{i}\n        expr: {json.dumps(subst(e))}\n")
    print(f"{a.dashboard}: ok: {len(d['panels'])} panels, {len(exprs)} queries, "
          f"metrics {', '.join(sorted(used))}")


if __name__ == "__main__":
    main()
