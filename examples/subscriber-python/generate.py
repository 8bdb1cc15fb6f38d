#!/usr/bin/env python3
"""Generates the Python classes of Relais's protos (every file under the
repository's proto/, messages only) into ./generated, or the folder given.

    python generate.py [OUT] [--proto DIR]

grpcio-tools carries protoc and the well-known types (google/protobuf/*),
so nothing else is needed. Run it again after pulling new protos: a field
added in v1 is read by the new classes and ignored by the old ones.
"""

import argparse
import sys
from pathlib import Path

from grpc_tools import protoc
import grpc_tools

HERE = Path(__file__).resolve().parent


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", nargs="?", default=str(HERE / "generated"))
    p.add_argument("--proto", default=str(HERE.parent.parent / "proto"))
    a = p.parse_args()
    root = Path(a.proto)
    files = sorted(str(f.relative_to(root)) for f in root.rglob("*.proto"))
    if not files:
        sys.exit(f"generate: no .proto under {root}")
    Path(a.out).mkdir(parents=True, exist_ok=True)
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    rc = protoc.main(["protoc", f"-I{root}", f"-I{well_known}", f"--python_out={a.out}", *files])
    if rc != 0:
        return rc
    print(f"generate: {len(files)} files from {root} into {a.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
