"""Generate the Python code for protos/ into clients/generated/ (never edit its output)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from grpc_tools import protoc  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
OUT = ROOT / "clients" / "generated"


def _plugin(name: str) -> str:
    """Return the path of a protoc plugin installed beside this interpreter."""
    path = Path(sys.executable).parent / name
    found = str(path) if path.exists() else shutil.which(name)
    if not found:
        raise SystemExit(f"{name} not found: pip install mypy-protobuf")
    return found


def main() -> None:
    """Regenerate every message and gRPC module, with typed stubs."""
    shutil.rmtree(OUT / "vicidial", ignore_errors=True)
    OUT.mkdir(parents=True, exist_ok=True)
    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.rglob("*.proto"))
    grpc_include = Path(protoc.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{grpc_include}",
        f"--plugin=protoc-gen-mypy_grpc={_plugin('protoc-gen-mypy_grpc')}",
        f"--python_out={OUT}",
        f"--pyi_out={OUT}",
        f"--grpc_python_out={OUT}",
        f"--mypy_grpc_out={OUT}",
        *protos,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for package in {p.parent for p in OUT.rglob("*_pb2.py")}:
        # Walk up to OUT so every level is an importable package.
        while package != OUT:
            (package / "__init__.py").touch()
            package = package.parent
    print(f"generated {len(protos)} proto file(s) into {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
