"""Generate the Python code of protos/ into this distribution (run by setup.py; never edit it).

Writes ``vicidial/leads/v1/*_pb2*.py`` with typed stubs (``.pyi``), a ``py.typed`` marker and
a copy of each ``.proto`` beside its code. Run it directly to refresh a development tree.
"""

from __future__ import annotations

import shutil
import sys
import sysconfig
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROTO_ROOT = HERE.parent / "protos"
PACKAGE = "vicidial"


def _plugin(name: str) -> str:
    """Return the path of a protoc plugin installed with mypy-protobuf."""
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(folder) / name
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if not found:
        raise SystemExit(f"{name} not found: pip install mypy-protobuf")
    return found


def generate(out: Path = HERE, proto_root: Path = PROTO_ROOT) -> None:
    """Regenerate every message and gRPC module under `out` from `proto_root`."""
    from grpc_tools import protoc  # type: ignore[import-untyped]

    shutil.rmtree(out / PACKAGE, ignore_errors=True)
    protos = sorted(p.relative_to(proto_root) for p in proto_root.rglob("*.proto"))
    grpc_include = Path(protoc.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{proto_root}",
        f"-I{grpc_include}",
        f"--plugin=protoc-gen-mypy_grpc={_plugin('protoc-gen-mypy_grpc')}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_grpc_out={out}",
        *map(str, protos),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for proto in protos:
        shutil.copyfile(proto_root / proto, out / proto)
        package = (out / proto).parent
        while package != out:  # every level an importable package
            (package / "__init__.py").touch()
            package = package.parent
    (out / PACKAGE / "py.typed").touch()


if __name__ == "__main__":
    generate()
    print(f"generated the {PACKAGE} package into {HERE}")
