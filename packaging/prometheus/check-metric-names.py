#!/usr/bin/env python3
"""Checks that the monitoring shipped in packaging/ asks only for what a gateway exports.

Given the text a real l0l3-gateway served on /metrics, it reads every PromQL
expression of the Prometheus rule files and of the Grafana dashboards and
fails when one names a metric, a label or (for `=` matchers and `=~` on a
label with a fixed set of values) a label value the gateway does not export.
A recording rule's name stands for its definition, which is checked where it
is defined. Besides the gateway's own series only Prometheus's `up` (with the
target labels job, instance, region) is allowed.

With --promtool it also writes every dashboard expression into a rule file
(Grafana's $variables replaced by plain values) and runs `promtool check
rules` on it: PromQL syntax, the same parser Prometheus uses.
With --rule-tests it checks that every alert and every recording rule is
exercised by a `promtool test rules` unit test; with --runbook-doc, that each
alert's runbook_url anchor is a heading of that document.

Usage: check-metric-names.py --exposition METRICS.txt --rules R.yml...
           [--dashboard D.json...] [--rule-tests T.yml...] [--runbook-doc OPERATIONS.md]
           [--promtool PATH]
Exit status: 0 all good, 1 a problem (each printed on its own line), 2 usage.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

try:
    import yaml
except ImportError:  # pragma: no cover
    print("check-metric-names: PyYAML is missing (Debian: python3-yaml, scripts/install-deps.sh)", file=sys.stderr)
    sys.exit(1)

# Series Prometheus adds for every scrape target, and the labels a target
# carries (packaging/prometheus/prometheus.yml puts `region` on each target).
PROMETHEUS_SERIES = {"up": {"job", "instance", "region"}}
TARGET_LABELS = {"job", "instance", "region"}
# Labels whose values depend on traffic or on the deployment: their values
# are not checked against one scrape.
OPEN_LABELS = {"region", "instance", "job", "status", "code", "le", "from", "to"}

KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "bool", "offset", "inf", "nan", "atan2",
}
AGGREGATIONS = {
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk", "quantile",
}
GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
NUMBER = re.compile(r"(0[xX][0-9a-fA-F]+|[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?)([smhdwy]|ms)*")


def parse_exposition(text):
    """{series name: {label: set(values)}} from Prometheus text format.

    A histogram family is its _bucket, _sum and _count series; a family
    declared without samples yet (no transition counted, no error answered)
    is known by name, with its labels None: not checked."""
    metrics, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            parts = line.split()
            if len(parts) >= 4:
                types[parts[2]] = parts[3]
            continue
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([A-Za-z_:][A-Za-z0-9_:]*)(\{(.*)\})?\s", line)
        if not m:
            continue
        labels = metrics.setdefault(m.group(1), {})
        for name, value in re.findall(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""):
            labels.setdefault(name, set()).add(value)
    for name, kind in types.items():
        series = [name + s for s in ("_bucket", "_sum", "_count")] if kind == "histogram" else [name]
        for s in series:
            metrics.setdefault(s, None)
    return metrics


def strip_strings(expr):
    """The expression with string literals replaced by placeholders, and the literals."""
    out, strings, i = [], [], 0
    while i < len(expr):
        c = expr[i]
        if c in "\"'`":
            j = i + 1
            while j < len(expr) and expr[j] != c:
                j += 2 if expr[j] == "\\" and c != "`" else 1
            strings.append(expr[i + 1:j])
            out.append(" \x00%d " % (len(strings) - 1))
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out), strings


class Selector:
    def __init__(self, metric, matchers):
        self.metric = metric
        self.matchers = matchers  # [(label, op, value)]


def analyse(expr):
    """Selectors (metric and matchers) and the label names in grouping clauses of one PromQL expression."""
    text, strings = strip_strings(expr)
    # Comments run to the end of the line.
    text = re.sub(r"#[^\n]*", " ", text)
    selectors, grouping_labels, problems = [], set(), []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c == "[":  # range or subquery: durations only
            j = text.find("]", i)
            i = n if j < 0 else j + 1
            continue
        if c == "{":  # a selector without a metric name before it
            j = text.find("}", i)
            matchers = parse_matchers(text[i + 1:j], strings, problems)
            name = [v for (l, op, v) in matchers if l == "__name__" and op == "="]
            selectors.append(Selector(name[0] if name else None, matchers))
            i = j + 1
            continue
        if c == "$":  # a Grafana variable
            m = re.match(r"\$(\{[^}]*\}|\w+)", text[i:])
            i += len(m.group(0)) if m else 1
            continue
        num = NUMBER.match(text, i)
        if num and num.group(0) and (c.isdigit() or c == "."):
            i = num.end()
            continue
        ident = IDENT.match(text, i)
        if ident:
            word = ident.group(0)
            j = ident.end()
            k = j
            while k < n and text[k].isspace():
                k += 1
            if word.lower() in GROUPING:
                if k < n and text[k] == "(":
                    close = text.find(")", k)
                    for label in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text[k + 1:close]):
                        grouping_labels.add(label)
                    i = close + 1
                else:
                    i = j
                continue
            if word.lower() in KEYWORDS:
                i = j
                continue
            if k < n and text[k] == "(":  # a function or aggregation
                i = j
                continue
            if word in AGGREGATIONS and re.match(r"(by|without)\b", text[k:], re.IGNORECASE):
                i = j
                continue
            matchers = []
            if k < n and text[k] == "{":
                close = text.find("}", k)
                matchers = parse_matchers(text[k + 1:close], strings, problems)
                j = close + 1
            selectors.append(Selector(word, matchers))
            i = j
            continue
        i += 1
    return selectors, grouping_labels, problems


def parse_matchers(body, strings, problems):
    matchers = []
    for part in body.split(","):
        part = part.strip()
        if not part:
            continue
        m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*\x00(\d+)\s*$", part)
        if not m:
            problems.append("cannot read the label matcher '%s'" % part.replace("\x00", "#"))
            continue
        matchers.append((m.group(1), m.group(2), strings[int(m.group(3))]))
    return matchers


def load_rules(paths):
    """[(file, group, rule)] of every rule in the files."""
    rules = []
    for path in paths:
        with open(path) as f:
            doc = yaml.safe_load(f) or {}
        for group in doc.get("groups", []):
            for rule in group.get("rules", []):
                rules.append((path, group.get("name"), rule))
    return rules


def dashboard_expressions(path):
    """[(where, expr, is_label_values_query)] of a Grafana dashboard JSON."""
    with open(path) as f:
        doc = json.load(f)
    found = []

    def panels(items):
        for p in items:
            yield p
            yield from panels(p.get("panels", []))

    for p in panels(doc.get("panels", [])):
        for t in p.get("targets", []):
            if "expr" in t:
                found.append(("panel '%s' %s" % (p.get("title"), t.get("refId", "")), t["expr"], False))
    for v in doc.get("templating", {}).get("list", []):
        q = v.get("query")
        if isinstance(q, dict):
            q = q.get("query")
        if v.get("type") == "query" and q:
            found.append(("variable '%s'" % v.get("name"), q, True))
    return found


def grafana_to_promql(expr):
    """Grafana's built-in and dashboard variables replaced by values PromQL accepts."""
    durations = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}

    def repl(m):
        name = m.group(1) or m.group(2)
        name = name.split(":")[0]
        return durations.get(name, "nyc")

    return re.sub(r"\$\{([^}]*)\}|\$(\w+)", repl, expr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--exposition", required=True)
    ap.add_argument("--rules", nargs="+", required=True)
    ap.add_argument("--dashboard", nargs="*", default=[])
    ap.add_argument("--rule-tests", nargs="*", default=[])
    ap.add_argument("--runbook-doc")
    ap.add_argument("--promtool")
    args = ap.parse_args()

    with open(args.exposition) as f:
        exported = parse_exposition(f.read())
    if not any(name.startswith("l0l3_") for name in exported):
        print("check-metric-names: %s holds no l0l3_ metric: not a gateway's /metrics" % args.exposition)
        return 1
    known = dict(exported)
    known.update({k: {l: set() for l in v} for k, v in PROMETHEUS_SERIES.items()})
    all_labels = set(TARGET_LABELS) | {"le"}
    for labels in exported.values():
        all_labels |= set(labels or {})

    rules = load_rules(args.rules)
    recorded = {r["record"] for (_, _, r) in rules if "record" in r}
    alerts = [r["alert"] for (_, _, r) in rules if "alert" in r]
    problems = []
    checked = 0

    def check(where, expr):
        nonlocal checked
        checked += 1
        selectors, grouping, errors = analyse(expr)
        for e in errors:
            problems.append("%s: %s" % (where, e))
        if not selectors:
            problems.append("%s: names no metric: %s" % (where, expr))
        for s in selectors:
            if s.metric is None:
                problems.append("%s: a selector without a metric name" % where)
                continue
            if s.metric in recorded:
                continue
            if s.metric not in known:
                problems.append("%s: metric %s is not exported by the gateway" % (where, s.metric))
                continue
            labels = known[s.metric]
            if labels is None:
                continue
            for label, op, value in s.matchers:
                allowed = set(labels) | (TARGET_LABELS if s.metric in exported else set())
                if label not in allowed:
                    problems.append("%s: %s has no label %s" % (where, s.metric, label))
                    continue
                values = labels.get(label, set())
                if label in OPEN_LABELS or not values or "$" in value:
                    continue
                if op == "=" and value not in values:
                    problems.append("%s: %s{%s} is never \"%s\" (exported: %s)"
                                    % (where, s.metric, label, value, ", ".join(sorted(values))))
                if op == "=~" and not any(re.fullmatch(value, v) for v in values):
                    problems.append("%s: %s{%s=~\"%s\"} matches no exported value (%s)"
                                    % (where, s.metric, label, value, ", ".join(sorted(values))))
        for label in grouping:
            if label not in all_labels:
                problems.append("%s: grouping by %s, a label nothing exports" % (where, label))

    for path, group, rule in rules:
        name = rule.get("record") or rule.get("alert")
        check("%s: %s" % (os.path.basename(path), name), rule["expr"])

    dashboard_exprs = []
    for path in args.dashboard:
        for where, expr, is_variable in dashboard_expressions(path):
            where = "%s: %s" % (os.path.basename(path), where)
            if is_variable:
                m = re.fullmatch(r"\s*label_values\(\s*(.*?)\s*,\s*([A-Za-z_]\w*)\s*\)\s*", expr)
                if not m:
                    problems.append("%s: only label_values(SELECTOR, LABEL) queries are checked: %s" % (where, expr))
                    continue
                check(where, m.group(1))
                metric = m.group(1).split("{")[0].strip()
                if known.get(metric) is not None and m.group(2) not in known[metric]:
                    problems.append("%s: %s has no label %s" % (where, metric, m.group(2)))
                continue
            check(where, expr)
            dashboard_exprs.append((where, expr))
    if args.dashboard and not dashboard_exprs:
        problems.append("no expression found in the dashboards")

    if args.rule_tests:
        tested_alerts, tested_exprs = set(), []
        for path in args.rule_tests:
            with open(path) as f:
                doc = yaml.safe_load(f) or {}
            for test in doc.get("tests", []):
                for a in test.get("alert_rule_test", []):
                    if a.get("exp_alerts"):
                        tested_alerts.add(a["alertname"])
                for e in test.get("promql_expr_test", []):
                    tested_exprs.append(e["expr"])
        for a in alerts:
            if a not in tested_alerts:
                problems.append("alert %s has no unit test in which it fires" % a)
        for r in sorted(recorded):
            if not any(re.search(r"(?<![\w:])%s(?![\w:])" % re.escape(r), e) for e in tested_exprs):
                problems.append("recording rule %s has no promql_expr_test" % r)

    if args.runbook_doc:
        with open(args.runbook_doc) as f:
            anchors = set()
            for line in f:
                m = re.match(r"#+\s+(.*)", line)
                if m:
                    title = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower())
                    anchors.add(title.replace(" ", "-"))
        for path, group, rule in rules:
            url = (rule.get("annotations") or {}).get("runbook_url")
            if "alert" in rule and not url:
                problems.append("alert %s has no runbook_url" % rule["alert"])
            if url and url.split("#")[-1] not in anchors:
                problems.append("alert %s: %s names no heading of %s"
                                % (rule["alert"], url, os.path.basename(args.runbook_doc)))

    if args.promtool and dashboard_exprs:
        rules_doc = {"groups": [{"name": "dashboard-expressions", "rules": [
            {"record": "dashboard_expression_%d" % i, "expr": grafana_to_promql(e)}
            for i, (_, e) in enumerate(dashboard_exprs)]}]}
        with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
            yaml.safe_dump(rules_doc, f)
            tmp = f.name
        try:
            r = subprocess.run([args.promtool, "check", "rules", tmp], capture_output=True, text=True, timeout=60)
        finally:
            os.unlink(tmp)
        if r.returncode != 0:
            problems.append("promtool check rules on the dashboard expressions failed:\n%s%s" % (r.stdout, r.stderr))
        else:
            print("check-metric-names: promtool accepts the %d dashboard expressions" % len(dashboard_exprs))

    for p in problems:
        print("check-metric-names: " + p)
    if problems:
        return 1
    print("check-metric-names: %d expressions use only the %d series the gateway exports (+ up)"
          % (checked, len(exported)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
