"""The package as a researcher installs it: one version number, and a wheel whose main job runs outside the checkout.

The wheel is built from the sdist (``python -m build``, so the sdist is checked too) and unpacked
into a folder that goes first on ``PYTHONPATH`` of a fresh interpreter started in another folder:
that interpreter imports the built files, not this checkout. ``.ci/run`` does the same with a real
install into a fresh virtual environment.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

import hpenv

REPO = Path(__file__).resolve().parents[1]


def test_the_version_is_written_once_and_the_installed_metadata_and_changelog_agree():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "hpenv.__version__"}
    # an editable install records the version at install time: reinstall after a bump
    assert importlib.metadata.version("hpenv") == hpenv.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+", hpenv.__version__)  # semantic versioning
    assert f"## hpenv {hpenv.__version__} " in (REPO / "CHANGELOG.md").read_text()


def test_the_license_is_an_spdx_expression():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"  # a table is deprecated by setuptools (an error from 2027-02-18)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    # no isolation: the test extra brings build and setuptools, so no index is needed here
    res = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(REPO)],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "is deprecated" not in res.stdout + res.stderr
    (sdist,) = dist.glob(f"hpenv-{hpenv.__version__}.tar.gz")
    (built,) = dist.glob(f"hpenv-{hpenv.__version__}-py3-none-any.whl")
    assert sdist.stat().st_size > 0
    return built


def test_the_wheel_ships_what_the_default_commands_read(wheel):
    from agents.bench.preregistration import REGISTERED_DATA

    shipped = {Path(name) for name in zipfile.ZipFile(wheel).namelist()}
    data = {Path("agents/bench/data") / p.relative_to(REGISTERED_DATA) for p in REGISTERED_DATA.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}
    assert Path("agents/bench/data/v2/protocol.toml") in data and data <= shipped
    assert not any(p.parts[0] in ("benchmarks", "tests", "docs") for p in shipped)  # only the packages


def test_the_main_job_of_the_wheel_runs_from_another_folder_and_compares_with_the_registered_references(
        wheel, tmp_path):
    site, elsewhere = tmp_path / "site", tmp_path / "elsewhere"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere.mkdir()
    # one worker: the comparison in this process (the Ray path is tested in test_cli and run by .ci/run)
    env = {**os.environ, "PYTHONPATH": str(site), "HPENV_BENCH_WORKERS": "1"}

    def python(code: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", code], cwd=elsewhere, env=env, capture_output=True, text=True,
                              timeout=600)

    where = python("import agents, hpenv; print(agents.__file__); print(hpenv.__file__)")
    assert where.returncode == 0, where.stderr
    assert all(Path(line).is_relative_to(site) for line in where.stdout.split()), where.stdout
    res = python("import sys; from agents.cli import main; sys.exit(main(['train', '--episodes', '8', '--num-envs', "
                 "'8', '--horizon', '2', '--steps-per-action', '2', '--eval-episodes', '1', '--no-progress', "
                 "'--out', 'run']))")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "30 selection members of v2/mlp-short" in res.stdout
    table = (elsewhere / "run" / "summary.md").read_text()
    assert "| RecurrentReinforce (greedy) | best static tuple |" in table
    assert "| RecurrentReinforce (greedy) | best fixed schedule |" in table
