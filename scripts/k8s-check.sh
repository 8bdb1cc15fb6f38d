#!/usr/bin/env bash
# Render every kustomization under k8s/ and validate the output offline:
#   1. kubectl kustomize k8s/base and k8s/overlays/* (render errors fail);
#   2. kubernetes-validate --strict against the JSON schemas it ships, for
#      each version in K8S_VERSIONS (unknown fields, wrong types, and kinds
#      with no schema fail);
#   3. for overlays, every ConfigMap/Secret a pod reads must be in the
#      render (base only references its secrets, so it is skipped there);
#   4. what the renders must hold (check_policy): an Ingress routes to the
#      gateway's API port only, and every Service is a ClusterIP; every
#      pod template is selected by a NetworkPolicy; every `serve`
#      container signs with its own key (RELAIS_SIGNING_KEY from
#      relais-<its name>-signing-key) and verifies with the ConfigMap
#      relais-trusted-keys mounted as a directory (no subPath, or updates
#      never reach running pods); in overlays, each signing key's kid is in
#      the trusted keys under its issuer;
#   5. no file under k8s/ mentions the shared HS256 key (RELAIS_JWT_SECRET,
#      Secret relais-jwt), replaced by per-issuer keys.
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

# Fails when a render breaks one of the rules of step 4 above.
check_policy() {
  "$VENV/bin/python" - "$1" "$2" <<'PY'
import base64, json, posixpath, re, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
where, overlay = sys.argv[2], sys.argv[2].startswith("k8s/overlays/")
errors = []
def err(msg):
    errors.append(msg)
def named(name, base):
    # kustomize appends a 10-character hash to generated names.
    return name == base or re.fullmatch(re.escape(base) + r"-[a-z0-9]{10}", name or "") is not None

# Only the gateway is exposed.
for d in docs:
    kind, name, spec = d["kind"], d["metadata"]["name"], d.get("spec") or {}
    if kind == "Ingress":
        backends = [spec.get("defaultBackend")] + [
            p.get("backend") for r in spec.get("rules") or [] for p in (r.get("http") or {}).get("paths") or []]
        for b in backends:
            svc = (b or {}).get("service") or {}
            if b is not None and (svc.get("name") != "gateway" or svc.get("port") not in ({"name": "http"}, {"number": 8080})):
                err(f"Ingress/{name} routes to {b}: only the gateway's API port (http, 8080) may be exposed")
    if kind == "Service" and spec.get("type", "ClusterIP") != "ClusterIP":
        err(f"Service/{name} is {spec['type']}: only the gateway is exposed, through its Ingress")

# Every pod template is selected by a NetworkPolicy.
selectors = [(d["spec"].get("podSelector") or {}).get("matchLabels") or {}
             for d in docs if d["kind"] == "NetworkPolicy"]
pods = []
for d in docs:
    spec = d.get("spec") or {}
    tmpl = (spec["jobTemplate"]["spec"] if "jobTemplate" in spec else spec).get("template")
    if d["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob") and tmpl:
        pods.append((f"{d['kind']}/{d['metadata']['name']}", tmpl))
for what, tmpl in pods:
    labels = tmpl.get("metadata", {}).get("labels") or {}
    if not any(all(labels.get(k) == v for k, v in sel.items()) for sel in selectors):
        err(f"{what}: no NetworkPolicy selects its pods")

# Keys: each `serve` signs with its own key and verifies with the trusted keys.
trusted = {}
for d in docs:
    if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "relais-trusted-keys":
        trusted = d.get("data") or {}
secrets = {d["metadata"]["name"]: d.get("data") or {} for d in docs if d["kind"] == "Secret"}
for what, tmpl in pods:
    app = (tmpl.get("metadata", {}).get("labels") or {}).get("app.kubernetes.io/name")
    pod = tmpl.get("spec") or {}
    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    for c in pod.get("containers") or []:
        env = {e["name"]: e for e in c.get("env") or []}
        serve = (c.get("command") or [None, None])[1:2] == ["serve"]
        if serve and not {"RELAIS_SIGNING_KEY", "RELAIS_TRUSTED_KEYS"} <= env.keys():
            err(f"{what}: `serve` without RELAIS_SIGNING_KEY and RELAIS_TRUSTED_KEYS")
        if "RELAIS_SIGNING_KEY" in env:
            ref = (env["RELAIS_SIGNING_KEY"].get("valueFrom") or {}).get("secretKeyRef") or {}
            if not named(ref.get("name"), f"relais-{app}-signing-key") or ref.get("key") != "signing-key":
                err(f"{what}: RELAIS_SIGNING_KEY must come from relais-{app}-signing-key, key signing-key (got {ref})")
            elif overlay and ref["name"] in secrets and "trusted-keys.json" in trusted:
                value = base64.b64decode(secrets[ref["name"]].get("signing-key", "")).decode()
                kid = value.split(":", 1)[0]
                keys = {k.get("kid"): k for k in json.loads(trusted["trusted-keys.json"]).get("keys", [])}
                if keys.get(kid, {}).get("relais_issuer") != app:
                    err(f"{what}: signing key {kid!r} is not in relais-trusted-keys with relais_issuer {app!r}")
        if "RELAIS_TRUSTED_KEYS" in env:
            path = env["RELAIS_TRUSTED_KEYS"].get("value", "")
            mounts = [m for m in c.get("volumeMounts") or []
                      if (volumes.get(m["name"], {}).get("configMap") or {}).get("name") == "relais-trusted-keys"]
            if not any(m["mountPath"].rstrip("/") == posixpath.dirname(path) and not m.get("subPath") for m in mounts):
                err(f"{what}: RELAIS_TRUSTED_KEYS={path} needs relais-trusted-keys mounted at {posixpath.dirname(path)} (a directory, no subPath)")
            if trusted and posixpath.basename(path) not in trusted:
                err(f"{what}: relais-trusted-keys has no key {posixpath.basename(path)}")
for e in sorted(set(errors)):
    print(f"ERROR {where}: {e}")
sys.exit(1 if errors else 0)
PY
}

status=0
if grep -rnE 'RELAIS_JWT_SECRET|relais-jwt\b' k8s/; then
  echo "FAIL k8s: the shared HS256 key is gone (per-issuer RELAIS_SIGNING_KEY, relais-trusted-keys)"
  status=1
fi
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
  if ! check_policy "$file" "$dir"; then
    echo "FAIL $dir: policy"; status=1; continue
  fi
  echo "ok   $dir ($(grep -c '^kind:' "$file") resources; k8s $K8S_VERSIONS)"
done
exit "$status"
