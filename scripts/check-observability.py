#!/usr/bin/env python3
"""Checks k8s/observability against itself and docs/operations.md (stdlib only).

- metrics.txt, the metric contract, is well formed;
- every dashboard (dashboards/*.json) is valid JSON with a unique uid and
  title, schemaVersion >= 39, a `datasource` variable of type datasource
  (prometheus) used by every panel and query, and no hard-coded instance;
- every metric and label that a dashboard query, a dashboard variable or an
  alert expression selects is in metrics.txt (histograms with their
  _bucket/_sum/_count series; `job` and `instance` everywhere, `le` on
  buckets);
- every alert of alerts.yml has a severity, a summary, a description and a
  runbook_url under RUNBOOK_BASE whose anchor is a heading of
  docs/operations.md;
- every alert has, in alerts.test.yml, a case where it fires and one where
  it does not.

The rule files are read line by line in the layout they are written in
(`- alert: Name`, `expr: |` blocks or one-line exprs, `alertname:` in
block or flow test items); a layout this script does not know is an error,
not a silent pass. `promtool check rules` and `promtool test rules` check
the files themselves (make alerts-check runs all three).
"""

import glob
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OBS = os.path.join(ROOT, "k8s", "observability")
METRICS = os.path.join(OBS, "metrics.txt")
ALERTS = os.path.join(OBS, "alerts.yml")
TESTS = os.path.join(OBS, "alerts.test.yml")
DASHBOARDS = os.path.join(OBS, "dashboards")
OPERATIONS = os.path.join(ROOT, "docs", "operations.md")
RUNBOOK_BASE = "https://github.com/relais/relais/blob/main/docs/operations.md#"
SEVERITIES = {"critical", "warning", "info"}
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}

errors = []


def error(where, msg):
    errors.append(f"{os.path.relpath(where, ROOT)}: {msg}")


# ------------------------------------------------------------- the contract --

def load_contract():
    contract = {}
    with open(METRICS, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            if len(parts) != 3 or parts[1] not in ("counter", "gauge", "histogram"):
                error(METRICS, f"line {n}: expected `name counter|gauge|histogram labels`, got {line!r}")
                continue
            name, kind, labels = parts
            if name in contract:
                error(METRICS, f"line {n}: {name} listed twice")
            contract[name] = (kind, set() if labels == "-" else set(labels.split(",")))
    return contract


def series_labels(contract, name):
    """The labels a series name may carry, or None when it is not in the contract."""
    if name in contract:
        kind, labels = contract[name]
        return None if kind == "histogram" else labels | {"job", "instance"}
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[: -len(suffix)]
        if name.endswith(suffix) and base in contract and contract[base][0] == "histogram":
            extra = {"le"} if suffix == "_bucket" else set()
            return contract[base][1] | {"job", "instance"} | extra
    return None


# ----------------------------------------------------------------- PromQL --

TOKEN = re.compile(
    r"""\s+|(?P<str>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)"""
    r"""|(?P<var>\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*)"""
    r"""|(?P<num>[0-9][0-9.]*(?:[eE][+-]?[0-9]+)?[a-zA-Z]*)"""
    r"""|(?P<id>[A-Za-z_:][A-Za-z0-9_:]*)"""
    r"""|(?P<op>=~|!~|!=|==|>=|<=|[-+*/%^<>=(){}\[\],@])"""
)
LIST_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
KEYWORDS = {"and", "or", "unless", "offset", "bool", "atan2", "inf", "nan"} | LIST_KEYWORDS
AGGREGATORS = {"sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk",
               "quantile", "count_values", "group", "limitk", "limit_ratio"}


def tokens(expr):
    out, pos = [], 0
    while pos < len(expr):
        m = TOKEN.match(expr, pos)
        if not m:
            raise ValueError(f"cannot read {expr[pos:pos + 20]!r}")
        pos = m.end()
        kind = m.lastgroup
        if kind:
            out.append((kind, m.group(kind)))
    return out


def selectors(expr):
    """[(metric, {label: value})] of every selector in expr."""
    toks = tokens(expr)
    found, i = [], 0
    while i < len(toks):
        kind, text = toks[i]
        nxt = toks[i + 1][1] if i + 1 < len(toks) else None
        if kind == "op" and text == "[":
            while i < len(toks) and toks[i][1] != "]":
                i += 1
            i += 1
            continue
        if kind == "id" and text in LIST_KEYWORDS and nxt == "(":
            while i < len(toks) and toks[i][1] != ")":
                i += 1
            i += 1
            continue
        if kind == "id" and (text in KEYWORDS or nxt == "(" or (text in AGGREGATORS and nxt in ("by", "without"))):
            i += 1
            continue
        if (kind == "id") or (kind == "op" and text == "{"):
            metric = text if kind == "id" else None
            labels = {}
            j = i + 1 if kind == "id" else i
            if j < len(toks) and toks[j][1] == "{":
                j += 1
                while j < len(toks) and toks[j][1] != "}":
                    if toks[j][0] == "id" and j + 2 < len(toks) and toks[j + 1][1] in ("=", "!=", "=~", "!~"):
                        labels[toks[j][1]] = (toks[j + 1][1], toks[j + 2][1])
                        j += 3
                    elif toks[j][1] == ",":
                        j += 1
                    else:
                        raise ValueError(f"unexpected {toks[j][1]!r} in a label matcher")
                j += 1
            if metric is None:
                metric = labels.pop("__name__", ("=", '""'))[1].strip("\"'`")
            found.append((metric, labels))
            i = j
            continue
        i += 1
    return found


def check_expr(where, what, expr, contract, dashboard=False):
    try:
        sels = selectors(expr)
    except ValueError as e:
        error(where, f"{what}: {e}: {expr}")
        return
    if not sels:
        error(where, f"{what}: selects no metric: {expr}")
    for metric, labels in sels:
        allowed = series_labels(contract, metric)
        if allowed is None:
            error(where, f"{what}: {metric} is not in metrics.txt")
            continue
        for label, (_, value) in labels.items():
            if label not in allowed:
                error(where, f"{what}: {metric} has no label {label} in metrics.txt")
            if dashboard and label == "instance" and not value.strip("\"'`").startswith("$"):
                error(where, f"{what}: a hard-coded instance ({value})")


# ------------------------------------------------------------- dashboards --

def panels_of(panels):
    for p in panels:
        yield p
        yield from panels_of(p.get("panels", []))


def check_dashboards(contract):
    paths = sorted(glob.glob(os.path.join(DASHBOARDS, "*.json")))
    if not paths:
        error(DASHBOARDS, "no dashboards")
    uids, titles = {}, {}
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                d = json.load(f)
        except (OSError, ValueError) as e:
            error(path, f"not valid JSON: {e}")
            continue
        uid, title = d.get("uid"), d.get("title")
        if not uid:
            error(path, "no uid")
        elif uid in uids:
            error(path, f"uid {uid} is also {os.path.basename(uids[uid])}'s")
        else:
            uids[uid] = path
        if not title:
            error(path, "no title")
        elif title in titles:
            error(path, f"title {title!r} is also {os.path.basename(titles[title])}'s")
        else:
            titles[title] = path
        if not isinstance(d.get("schemaVersion"), int) or d["schemaVersion"] < 39:
            error(path, f"schemaVersion {d.get('schemaVersion')} (want >= 39)")
        if d.get("id") is not None:
            error(path, "id must be null (Grafana assigns it on import)")
        variables = d.get("templating", {}).get("list", [])
        if not any(v.get("name") == "datasource" and v.get("type") == "datasource" and v.get("query") == "prometheus"
                   for v in variables):
            error(path, "no `datasource` variable of type datasource (prometheus)")
        for v in variables:
            if v.get("type") != "query":
                continue
            if v.get("datasource") != DATASOURCE:
                error(path, f"variable {v.get('name')}: datasource is not ${{datasource}}")
            q = v.get("query")
            q = q.get("query", "") if isinstance(q, dict) else (q or "")
            m = re.fullmatch(r"\s*label_values\((.*),\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*", q)
            if not m:
                error(path, f"variable {v.get('name')}: expected label_values(<selector>, <label>), got {q!r}")
                continue
            check_expr(path, f"variable {v.get('name')}", m.group(1), contract, dashboard=True)
            for metric, _ in selectors(m.group(1)):
                allowed = series_labels(contract, metric)
                if allowed is not None and m.group(2) not in allowed:
                    error(path, f"variable {v.get('name')}: {metric} has no label {m.group(2)} in metrics.txt")
        ids = set()
        for p in panels_of(d.get("panels", [])):
            what = f"panel {p.get('title')!r}"
            if p.get("id") in ids:
                error(path, f"{what}: id {p.get('id')} used twice")
            ids.add(p.get("id"))
            if p.get("type") == "row":
                continue
            if p.get("datasource") != DATASOURCE:
                error(path, f"{what}: datasource is not ${{datasource}}")
            targets = p.get("targets", [])
            if not targets:
                error(path, f"{what}: no queries")
            for t in targets:
                if t.get("datasource") != DATASOURCE:
                    error(path, f"{what}: a query's datasource is not ${{datasource}}")
                check_expr(path, what, t.get("expr", ""), contract, dashboard=True)
    return len(paths)


# ----------------------------------------------------------------- alerts --

def block(lines, i, indent):
    """The lines after i indented deeper than indent, and the next index."""
    out = []
    j = i + 1
    while j < len(lines) and (not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) > indent):
        out.append(lines[j].strip())
        j += 1
    return " ".join(x for x in out if x and not x.startswith("#")), j


def unquote(s):
    s = s.strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "\"'":
        return s[1:-1]
    return s


def parse_alerts():
    alerts = []
    with open(ALERTS, encoding="utf-8") as f:
        lines = f.read().splitlines()
    cur = None
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^(\s*)- (alert|record):\s*(\S+)\s*$", line)
        if m:
            cur = {"name": m.group(3), "kind": m.group(2), "labels": {}, "annotations": {}, "expr": None, "line": i + 1}
            alerts.append(cur)
            i += 1
            continue
        m = re.match(r"^(\s*)expr:\s*(.*)$", line)
        if m and cur is not None:
            value = m.group(2).strip()
            if value in ("|", "|-", ">", ">-"):
                cur["expr"], i = block(lines, i, len(m.group(1)))
                continue
            if not value or value[0] in "\"'":
                error(ALERTS, f"line {i + 1}: write expr plain on one line or as a `|` block")
            cur["expr"] = value
            i += 1
            continue
        m = re.match(r"^(\s*)(labels|annotations):\s*$", line)
        if m and cur is not None:
            section, indent = m.group(2), len(m.group(1))
            j = i + 1
            while j < len(lines) and (not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) > indent):
                kv = re.match(r"^\s*([A-Za-z_][A-Za-z0-9_]*):\s*(.*)$", lines[j])
                if kv:
                    cur[section][kv.group(1)] = unquote(kv.group(2))
                j += 1
            i = j
            continue
        i += 1
    return [a for a in alerts if a["kind"] == "alert"], alerts


def github_anchors(path):
    anchors, seen = set(), {}
    in_code = False
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("```"):
                in_code = not in_code
                continue
            m = None if in_code else re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
            if not m:
                continue
            slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            anchors.add(slug if n == 0 else f"{slug}-{n}")
    return anchors


def check_alerts(contract):
    alerts, rules = parse_alerts()
    if not alerts:
        error(ALERTS, "no alerts found")
    anchors = github_anchors(OPERATIONS)
    names = set()
    for a in alerts:
        where = f"alert {a['name']}"
        if a["name"] in names:
            error(ALERTS, f"{where}: defined twice")
        names.add(a["name"])
        if not a["expr"]:
            error(ALERTS, f"{where}: no expr")
        else:
            check_expr(ALERTS, where, a["expr"], contract)
        if a["labels"].get("severity") not in SEVERITIES:
            error(ALERTS, f"{where}: severity must be one of {sorted(SEVERITIES)}")
        for k in ("summary", "description", "runbook_url"):
            if not a["annotations"].get(k):
                error(ALERTS, f"{where}: no {k} annotation")
        url = a["annotations"].get("runbook_url", "")
        if url and not url.startswith(RUNBOOK_BASE):
            error(ALERTS, f"{where}: runbook_url must start with {RUNBOOK_BASE}")
        elif url and url[len(RUNBOOK_BASE):] not in anchors:
            error(ALERTS, f"{where}: docs/operations.md has no heading with anchor #{url[len(RUNBOOK_BASE):]}")
    for r in rules:
        if r["kind"] == "record" and r["expr"]:
            check_expr(ALERTS, f"record {r['name']}", r["expr"], contract)
    return names


def check_tests(names):
    fires, quiet = set(), set()
    with open(TESTS, encoding="utf-8") as f:
        lines = f.read().splitlines()
    current = None
    for n, line in enumerate(lines, 1):
        flow = re.match(r"^\s*- \{(.*)\}\s*$", line)
        if flow and "alertname" in flow.group(1):
            name = re.search(r"alertname:\s*([A-Za-z0-9_]+)", flow.group(1))
            exp = re.search(r"exp_alerts:\s*\[\s*\]", flow.group(1))
            if not name or not exp:
                error(TESTS, f"line {n}: a one-line test item must be {{eval_time, alertname, exp_alerts: []}}")
                continue
            quiet.add(name.group(1))
            continue
        m = re.match(r"^\s*(?:- )?alertname:\s*([A-Za-z0-9_]+)\s*$", line)
        if m:
            current = m.group(1)
            continue
        m = re.match(r"^\s*exp_alerts:\s*(.*)$", line)
        if m:
            if current is None:
                error(TESTS, f"line {n}: exp_alerts without an alertname before it")
                continue
            value = m.group(1).strip()
            if value == "[]":
                quiet.add(current)
            elif value == "":
                nxt = next((x for x in lines[n:] if x.strip()), "")
                if re.match(r"^\s*- exp_labels:", nxt):
                    fires.add(current)
                else:
                    quiet.add(current)
            else:
                error(TESTS, f"line {n}: write exp_alerts as [] or as a block list")
            current = None
    for name in sorted(names):
        if name not in fires:
            error(TESTS, f"{name}: no test case where it fires")
        if name not in quiet:
            error(TESTS, f"{name}: no test case where it stays quiet")
    for name in sorted((fires | quiet) - names):
        error(TESTS, f"{name}: tested, but not an alert of alerts.yml")


def main():
    contract = load_contract()
    n = check_dashboards(contract)
    names = check_alerts(contract)
    check_tests(names)
    if errors:
        for e in errors:
            print(f"check-observability: {e}", file=sys.stderr)
        return 1
    print(f"check-observability: {n} dashboards, {len(names)} alerts, {len(contract)} metrics: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
