#!/usr/bin/env bash
# Render every kustomization under k8s/ and validate the output offline:
#   1. kubectl kustomize k8s/base and k8s/overlays/* (render errors fail);
#   2. kubernetes-validate --strict against the JSON schemas it ships, for
#      each version in K8S_VERSIONS (unknown fields, wrong types, and kinds
#      with no schema fail);
#   3. for overlays, every ConfigMap/Secret a pod reads must be in the
#      render (base only references its secrets, so it is skipped there).
# Needs kubectl and python3; installs kubernetes-validate into .local/venv.
set -euo pipefail

cd "$(dirname "$0")/.."

KV_VERSION=1.37.0                          # ships schemas for 1.25 .. 1.37
K8S_VERSIONS=${K8S_VERSIONS:-"1.30 1.33"}  # oldest supported, and current
VENV=.local/venv

command -v kubectl >/dev/null || { echo "k8s-check: kubectl not found" >&2; exit 2; }

# The venv is shared with scripts/stack.sh: create it only if it is missing
# or broken, and only add what is missing.
kv_ok() {
  "$VENV/bin/python" -c "import sys, kubernetes_validate.__main__ as _, kubernetes_validate.version as v
sys.exit(v.__version__ != '$KV_VERSION')" >/dev/null 2>&1
}
if ! kv_ok; then
  mkdir -p .local
  exec 8>.local/k8s-check.lock
  command -v flock >/dev/null && flock -w 300 8
  if ! kv_ok; then
    "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1 || python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall \
      "kubernetes-validate==$KV_VERSION"
  fi
  exec 8>&-
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# Fails when a pod reads a ConfigMap or Secret the render does not contain.
check_refs() {
  "$VENV/bin/python" - "$1" "$2" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
have = {(d["kind"], d["metadata"]["name"]) for d in docs}
missing = set()
def walk(node, kind):
    if isinstance(node, dict):
        for key, val in node.items():
            k = {"configMapRef": "ConfigMap", "configMapKeyRef": "ConfigMap", "configMap": "ConfigMap",
                 "secretRef": "Secret", "secretKeyRef": "Secret"}.get(key)
            if k and isinstance(val, dict) and "name" in val and not val.get("optional"):
                if (k, val["name"]) not in have:
                    missing.add(f"{kind} -> {k}/{val['name']}")
            elif key == "secret" and isinstance(val, dict) and "secretName" in val:
                if ("Secret", val["secretName"]) not in have:
                    missing.add(f"{kind} -> Secret/{val['secretName']}")
            walk(val, kind)
    elif isinstance(node, list):
        for item in node:
            walk(item, kind)
for d in docs:
    walk(d.get("spec", {}), f"{d['kind']}/{d['metadata']['name']}")
for m in sorted(missing):
    print(f"ERROR {sys.argv[2]}: missing reference {m}")
sys.exit(1 if missing else 0)
PY
}

status=0
for dir in k8s/base k8s/overlays/*/; do
  dir=${dir%/}
  [[ -f $dir/kustomization.yaml ]] || continue
  file="$out/$(echo "$dir" | tr / _).yaml"
  if ! kubectl kustomize "$dir" >"$file"; then
    echo "FAIL $dir: kustomize render failed"; status=1; continue
  fi
  log="$out/log"
  args=(--strict --quiet)
  for v in $K8S_VERSIONS; do args+=(-k "$v"); done
  rc=0
  "$VENV/bin/kubernetes-validate" "${args[@]}" "$file" >"$log" 2>&1 || rc=$?
  sed "s#$file#$dir#g" "$log"
  # A WARN means no schema for that kind/apiVersion: a typo or a CRD.
  if (( rc != 0 )) || grep -q '^WARN' "$log"; then
    echo "FAIL $dir: schema validation"; status=1; continue
  fi
  if [[ $dir == k8s/overlays/* ]] && ! check_refs "$file" "$dir"; then
    echo "FAIL $dir: dangling references"; status=1; continue
  fi
  echo "ok   $dir ($(grep -c '^kind:' "$file") resources; k8s $K8S_VERSIONS)"
done
exit "$status"
