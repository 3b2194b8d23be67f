#!/usr/bin/env python3
"""Regenerate kubelab/v1/*_pb2*.py from proto/kubelab/v1/*.proto.

`--check` regenerates into a temporary directory and fails when the committed
code differs (CI runs it so generated code never goes stale).
"""
from __future__ import annotations

import filecmp
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"


def generate(out: Path) -> None:
    import grpc_tools
    from grpc_tools import protoc

    include = Path(grpc_tools.__file__).parent / "_proto"
    protos = sorted(str(p.relative_to(PROTO_DIR)) for p in PROTO_DIR.rglob("*.proto"))
    args = ["protoc", f"-I{PROTO_DIR}", f"-I{include}", f"--python_out={out}",
            f"--pyi_out={out}", f"--grpc_python_out={out}", *protos]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")


def main() -> int:
    if "--check" in sys.argv:
        with tempfile.TemporaryDirectory() as tmp:
            generate(Path(tmp))
            stale = []
            for new in Path(tmp).rglob("*.py*"):
                old = ROOT / new.relative_to(tmp)
                if not old.exists() or not filecmp.cmp(new, old, shallow=False):
                    stale.append(str(old.relative_to(ROOT)))
            if stale:
                print("generated code is stale; run scripts/genproto.py:", *stale, sep="\n  ")
                return 1
            print("generated code is up to date")
            return 0
    generate(ROOT)
    (ROOT / "kubelab" / "v1" / "__init__.py").touch()
    return 0


if __name__ == "__main__":
    sys.exit(main())
