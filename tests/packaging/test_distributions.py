"""Both distributions as users get them: built as wheels, installed into fresh venvs.

The client wheel goes into a venv that holds exactly its dependency floors (so the floors are
ones the generated code really runs on) and archives against a real `lead-archive serve`
from a folder outside the tree. The service wheel gets a working `lead-archive`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest
from lead_archive_server.access.keys import create_key

from tests.processes import serve_environment, serving
from tests.support import TestDb

ROOT = Path(__file__).resolve().parents[2]
CLIENT_ONLY_MISSING = ("fastapi", "aiomysql", "uvicorn", "typer", "rich", "lead_archive_server")
GENERIC_NAMES = ("server", "clients", "rest_shim")


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{args}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def floors() -> list[str]:
    """The client's dependencies pinned to their lowest allowed versions."""
    project = tomllib.loads((ROOT / "clients" / "pyproject.toml").read_text())["project"]
    pins = []
    for requirement in project["dependencies"]:
        name, _, rest = requirement.partition(">=")
        pins.append(f"{name}=={rest.split(',')[0]}")
    return pins


def new_venv(path: Path) -> Path:
    venv.create(path, with_pip=True, clear=True)
    return path / "bin" / "python"


def pip_install(python: Path, *args: str | Path, cwd: Path) -> None:
    run(python, "-m", "pip", "install", "-q", "--disable-pip-version-check", *args, cwd=cwd)


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Both wheels, built from the tree as `python -m build` builds them."""
    out = tmp_path_factory.mktemp("wheels")
    for source in (ROOT / "clients", ROOT):
        run(sys.executable, "-m", "build", "--wheel", "--outdir", out, source, cwd=ROOT)
    return {
        "client": next(out.glob("lead_archive_client-*.whl")),
        "service": next(out.glob("lead_archive-*.whl")),
    }


def top_level_names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return {name.split("/")[0] for name in archive.namelist() if ".dist-info" not in name}


def test_the_wheels_install_only_names_of_the_project(wheels: dict[str, Path]) -> None:
    assert top_level_names(wheels["client"]) == {"lead_archive_client", "vicidial"}
    assert top_level_names(wheels["service"]) == {"lead_archive_server", "lead_archive_rest_shim"}
    with zipfile.ZipFile(wheels["client"]) as archive:
        names = set(archive.namelist())
    # Typed, with the .proto sources beside the generated code.
    for shipped in ("vicidial/py.typed", "lead_archive_client/py.typed"):
        assert shipped in names
    assert "vicidial/leads/v1/lead_archive.proto" in names
    assert "vicidial/leads/v1/lead_archive_pb2.pyi" in names


async def test_the_client_alone_on_its_floors_archives_against_a_server(
    wheels: dict[str, Path], tdb: TestDb, tmp_path: Path
) -> None:
    if tdb.engine != "InnoDB":
        pytest.skip("one engine is enough to exercise the package")
    python = new_venv(tmp_path / "venv")
    pip_install(python, *floors(), cwd=tmp_path)
    pip_install(python, wheels["client"], cwd=tmp_path)  # its floors are already there
    installed = run(python, "-m", "pip", "list", "--format=freeze", cwd=tmp_path).lower()
    for pin in floors():
        assert pin.lower() in installed
    for name in CLIENT_ONLY_MISSING:
        assert f"\n{name}==" not in f"\n{installed}"
    ids = await tdb.seed(3)
    key = await create_key(tdb.db, "6666")
    env, grpc_port, http_port = serve_environment(tdb.db.url.url())
    script = (
        "import sys\n"
        "from lead_archive_client import LeadArchiveClient, RestLeadArchiveClient, UnknownLeads\n"
        "ids = [int(i) for i in sys.argv[3:]]\n"
        "with LeadArchiveClient(sys.argv[1], sys.argv[2]) as client:\n"
        "    result = client.archive(ids[:2])\n"
        "    assert (result.insert_count, result.delete_count) == (2, 2), result\n"
        "    try:\n"
        "        client.archive(ids[:1])\n"
        "    except UnknownLeads as error:\n"
        "        assert error.reason == 'LEAD_IDS_DO_NOT_EXIST' and error.lead_ids == (ids[0],)\n"
        "    else:\n"
        "        raise AssertionError('archived twice')\n"
        f"with RestLeadArchiveClient('http://127.0.0.1:{http_port}', sys.argv[2]) as rest:\n"
        "    assert rest.archive(ids[2:]).delete_count == 1\n"
        "print('ok')\n"
    )
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "smoke.py").write_text(script)
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    async with serving(env, tmp_path / "serve.log"):
        output = run(
            python,
            "smoke.py",
            f"127.0.0.1:{grpc_port}",
            key,
            *map(str, ids),
            cwd=outside,
            env=clean,
        )
    assert output.strip() == "ok"
    assert await tdb.count("vicidial_list") == 0


async def test_the_service_wheel_gives_a_working_lead_archive(
    wheels: dict[str, Path], tdb: TestDb, tmp_path: Path
) -> None:
    if tdb.engine != "MyISAM":
        pytest.skip("one engine is enough to exercise the package")
    python = new_venv(tmp_path / "venv")
    pip_install(python, wheels["service"], cwd=tmp_path)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    lead_archive = python.parent / "lead-archive"
    assert "Usage" in run(lead_archive, "--help", cwd=outside, env=clean)
    await tdb.execute("DROP TABLE IF EXISTS vicidial_list_archive")
    env = clean | {"LEAD_ARCHIVE_DATABASE_URL": tdb.db.url.url()}
    run(lead_archive, "db", "init", cwd=outside, env=env)
    assert await tdb.count("vicidial_list_archive") == 0  # created, the Vicidial way
    for name in GENERIC_NAMES:
        probe = (
            f"import importlib.util, sys; sys.exit(importlib.util.find_spec({name!r}) is not None)"
        )
        run(python, "-c", probe, cwd=outside, env=clean)
