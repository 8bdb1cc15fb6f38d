#!/usr/bin/env bash
# Render every kustomization under k8s/ and validate the output offline:
#   1. kubectl kustomize k8s/base and k8s/overlays/* (render errors fail);
#   2. kubernetes-validate --strict against the JSON schemas it ships, for
#      each version in K8S_VERSIONS (unknown fields, wrong types, and kinds
#      with no schema fail); custom resources of the operators the prod
#      overlay uses (CloudNativePG, Barman Cloud plugin, Prometheus
#      operator, External Secrets) against the schemas vendored in
#      k8s/schemas/<group>/<version>/<kind>.json (scripts/vendor-crd-schemas.py
#      says where each comes from and what it checks); a custom resource
#      with neither fails;
#   3. for overlays, every ConfigMap/Secret a pod reads must be in the
#      render, or be made in the cluster by what the render holds: an
#      ExternalSecret's target, CloudNativePG's Secrets of a Cluster
#      (base only references its secrets, so it is skipped there);
#   4. what the renders must hold (check_policy): an Ingress routes to the
#      gateway's API port only, and every Service is a ClusterIP; every
#      pod template is selected by a NetworkPolicy, and a service's admits
#      only the Relais pods that call it by name; every `serve`
#      container signs with its own key (RELAIS_SIGNING_KEY from
#      relais-<its name>-signing-key) and verifies with the ConfigMap
#      relais-trusted-keys mounted as a directory (no subPath, or updates
#      never reach running pods); in overlays, each signing key's kid is in
#      the trusted keys under its issuer;
#      (in every overlay, at least each issuer's kid under its name); in
#      k8s/overlays/prod also: every image pinned (digest, or an exact
#      version tag), every `serve` Deployment waiting for its migrations
#      in an init container (`<service> migrate --check`), streams with
#      RELAIS_STREAM_REPLICAS=3;
#   5. no file under k8s/ mentions the shared HS256 key (RELAIS_JWT_SECRET,
#      Secret relais-jwt), replaced by per-issuer keys;
#   6. k8s/observability/prometheusrule.yaml is what
#      scripts/gen-prometheus-rule.py makes of alerts.yml (no drift).
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
# Secrets the cluster makes from what the render holds: the External
# Secrets Operator writes each ExternalSecret's target; CloudNativePG
# writes a Cluster's app (owner), CA, server and replication Secrets.
for d in docs:
    if d["kind"] == "ExternalSecret":
        target = ((d.get("spec") or {}).get("target") or {}).get("name") or d["metadata"]["name"]
        have.add(("Secret", target))
    if d["kind"] == "Cluster" and d["apiVersion"].startswith("postgresql.cnpg.io/"):
        for suffix in ("app", "ca", "server", "replication"):
            have.add(("Secret", f"{d['metadata']['name']}-{suffix}"))
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
prod = where == "k8s/overlays/prod"
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

# Only the gateway is reachable from outside: a service's policy admits the
# Relais pods that call it by name, never every peer nor every pod of the
# namespace (a compromised or unrelated workload there).
for d in docs:
    if d["kind"] != "NetworkPolicy":
        continue
    app = ((d["spec"].get("podSelector") or {}).get("matchLabels") or {}).get("app.kubernetes.io/name")
    if app not in ("catalogue", "orders", "planning", "billing", "connector"):
        continue
    for rule in d["spec"].get("ingress") or []:
        if not rule.get("from"):
            err(f"NetworkPolicy/{d['metadata']['name']}: an ingress rule admits every peer")
        for peer in rule.get("from") or []:
            sel = peer.get("podSelector")
            if sel is not None and not sel and "namespaceSelector" not in peer:
                err(f"NetworkPolicy/{d['metadata']['name']}: `podSelector: {{}}` admits every pod of the namespace")

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
        if "RELAIS_SIGNING_KEY" in env and overlay and "trusted-keys.json" in trusted:
            issuers = {k.get("relais_issuer") for k in json.loads(trusted["trusted-keys.json"]).get("keys", [])}
            if app not in issuers:
                err(f"{what}: relais-trusted-keys has no key with relais_issuer {app!r}")
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

if prod:
    # Images by digest or an exact version: never `latest`, never no tag.
    for what, tmpl in pods:
        pod = tmpl.get("spec") or {}
        for c in (pod.get("initContainers") or []) + (pod.get("containers") or []):
            image = c.get("image", "")
            tag = image.rsplit("/", 1)[-1].partition(":")[2]
            if "@sha256:" not in image and not re.fullmatch(r"v?\d+(\.\d+)+([-+.][\w.-]+)?", tag):
                err(f"{what}: image {image!r} is neither pinned by digest nor by an exact version")
    # Pods that serve wait for their schema instead of crash-looping.
    for what, tmpl in pods:
        if not what.startswith("Deployment/"):
            continue
        pod = tmpl.get("spec") or {}
        for c in pod.get("containers") or []:
            cmd = c.get("command") or []
            if cmd[1:2] == ["serve"]:
                waits = [i for i in pod.get("initContainers") or []
                         if (i.get("command") or [])[:3] == [cmd[0], "migrate", "--check"]]
                if not waits:
                    err(f"{what}: `{cmd[0]} serve` without an init container `{cmd[0]} migrate --check`")
    common = next((d.get("data") or {} for d in docs
                   if d["kind"] == "ConfigMap" and named(d["metadata"]["name"], "relais-common")), {})
    if common.get("RELAIS_STREAM_REPLICAS") != "3":
        err("relais-common: RELAIS_STREAM_REPLICAS must be 3 (the NATS cluster has three servers)")
    # Nothing secret in the render: every Secret comes from the cluster.
    for d in docs:
        if d["kind"] == "Secret":
            err(f"Secret/{d['metadata']['name']} is in the render: prod takes secrets from External Secrets only")
for e in sorted(set(errors)):
    print(f"ERROR {where}: {e}")
sys.exit(1 if errors else 0)
PY
}

# Validates the custom resources of a render ($1, YAML) against the schemas
# vendored in k8s/schemas; writes the other documents to $2 for
# kubernetes-validate. A custom resource with no vendored schema goes to
# kubernetes-validate too, which warns (and the check fails).
check_crs() {
  "$VENV/bin/python" - "$1" "$2" "$3" <<'PY'
import json, pathlib, sys, yaml
from jsonschema import Draft202012Validator
src, rest, where = sys.argv[1], sys.argv[2], sys.argv[3]
docs = [d for d in yaml.safe_load_all(open(src)) if d]
core, errors, checked = [], [], 0
for d in docs:
    api, kind = d.get("apiVersion", ""), d.get("kind", "")
    path = pathlib.Path("k8s/schemas") / api / f"{kind.lower()}.json"
    if "/" not in api or "." not in api.split("/")[0] or not path.is_file():
        core.append(d)
        continue
    checked += 1
    validator = Draft202012Validator(json.loads(path.read_text()))
    for e in sorted(validator.iter_errors(d), key=lambda e: list(e.absolute_path)):
        loc = "/".join(str(p) for p in e.absolute_path) or "(root)"
        errors.append(f"ERROR {where}: {kind}/{d['metadata'].get('name')}: {loc}: {e.message[:300]}")
with open(rest, "w") as f:
    yaml.safe_dump_all(core, f, sort_keys=False)
for e in errors:
    print(e)
print(checked)
sys.exit(1 if errors else 0)
PY
}

status=0
if grep -rnE 'RELAIS_JWT_SECRET|relais-jwt\b' k8s/; then
  echo "FAIL k8s: the shared HS256 key is gone (per-issuer RELAIS_SIGNING_KEY, relais-trusted-keys)"
  status=1
fi
if ! "$VENV/bin/python" scripts/gen-prometheus-rule.py --check; then
  status=1
fi
# Every overlay, and the cluster-wide part of prod (applied on its own);
# the other directories under an overlay are parts of it, not renders.
for dir in k8s/base k8s/overlays/*/ k8s/overlays/prod/secret-store; do
  dir=${dir%/}
  [[ -f $dir/kustomization.yaml ]] || continue
  file="$out/$(echo "$dir" | tr / _).yaml"
  if ! kubectl kustomize "$dir" >"$file"; then
    echo "FAIL $dir: kustomize render failed"; status=1; continue
  fi
  log="$out/log"
  core="$out/core.yaml"
  if ! crs=$(check_crs "$file" "$core" "$dir"); then
    echo "$crs" | grep '^ERROR' || true
    echo "FAIL $dir: custom resource validation"; status=1; continue
  fi
  args=(--strict --quiet)
  for v in $K8S_VERSIONS; do args+=(-k "$v"); done
  rc=0
  "$VENV/bin/kubernetes-validate" "${args[@]}" "$core" >"$log" 2>&1 || rc=$?
  sed "s#$core#$dir#g" "$log"
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
  echo "ok   $dir ($(grep -c '^kind:' "$file") resources, $crs custom resources against k8s/schemas; k8s $K8S_VERSIONS)"
done
exit "$status"
