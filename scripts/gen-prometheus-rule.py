#!/usr/bin/env python3
"""Wraps k8s/observability/alerts.yml (a plain Prometheus rule file, the one
`promtool test rules` reads) into the PrometheusRule object the Prometheus
operator loads, k8s/observability/prometheusrule.yaml. kustomize cannot put
a file's content under spec.groups, hence this script; the output is
committed, and `scripts/k8s-check.sh` (make lint) runs it with --check and
fails when the committed object has drifted from alerts.yml.

    .local/venv/bin/python scripts/gen-prometheus-rule.py          # rewrite
    .local/venv/bin/python scripts/gen-prometheus-rule.py --check  # drift?

Needs PyYAML (in the venv scripts/k8s-check.sh makes).
"""
import argparse
import pathlib
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCE = ROOT / "k8s/observability/alerts.yml"
TARGET = ROOT / "k8s/observability/prometheusrule.yaml"

HEADER = """\
# GENERATED from k8s/observability/alerts.yml by scripts/gen-prometheus-rule.py:
# edit alerts.yml and run the script; make lint fails when this file has
# drifted. The label `release` is what kube-prometheus-stack's default
# ruleSelector matches (ADJUST in k8s/observability/kustomization.yaml).
"""


class Dumper(yaml.SafeDumper):
    pass


def _str(dumper, value):
    # PromQL and descriptions over several lines stay readable blocks.
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


Dumper.add_representer(str, _str)


def render() -> str:
    rules = yaml.safe_load(SOURCE.read_text())
    if not isinstance(rules, dict) or not isinstance(rules.get("groups"), list):
        sys.exit(f"{SOURCE.relative_to(ROOT)}: expected a rule file, `groups: [...]`")
    unknown = set(rules) - {"groups"}
    if unknown:
        sys.exit(f"{SOURCE.relative_to(ROOT)}: unexpected top-level keys {sorted(unknown)}")
    obj = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "relais",
            "labels": {
                "app.kubernetes.io/name": "relais-alerts",
                "app.kubernetes.io/part-of": "relais",
            },
        },
        "spec": {"groups": rules["groups"]},
    }
    return HEADER + yaml.dump(obj, Dumper=Dumper, sort_keys=False, width=100, allow_unicode=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="fail if the committed file differs")
    args = p.parse_args()
    text = render()
    if args.check:
        if not TARGET.exists() or TARGET.read_text() != text:
            print(f"FAIL {TARGET.relative_to(ROOT)} is out of date with "
                  f"{SOURCE.relative_to(ROOT)}: run scripts/gen-prometheus-rule.py")
            return 1
        return 0
    TARGET.write_text(text)
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
