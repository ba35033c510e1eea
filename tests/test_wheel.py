"""The wheel carries the package data and works from any folder (no source checkout on the path)."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-w", str(dist), "-q"],
        check=True,
    )
    (built,) = dist.glob("drevalkit-*.whl")
    return built


def test_wheel_contains_data(wheel: Path):
    names = zipfile.ZipFile(wheel).namelist()
    assert "drevalkit/data/rubrics/general.json" in names
    assert "drevalkit/data/personas/health.yaml" in names
    assert any(n.startswith("drevalkit/tasks/prompts/") and n.endswith(".j2") for n in names)
    assert "drevalkit/data/templates/scorecard.html.j2" in names
    assert any(n.startswith("drevalkit/quality/prompts/") and n.endswith(".j2") for n in names)


def test_installed_wheel_runs_from_another_folder(wheel: Path, tmp_path: Path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target), "-q", str(wheel)], check=True
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}
    probe = (
        "import drevalkit, drevalkit.resources as r, drevalkit.quality.rubric as q;"
        "print(drevalkit.__file__);print(r.data_path('rubrics'));print(q.PROMPTS.version);"
        "print(len(q.load_general_rubric().dimensions))"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    package_file, rubrics, version, dims = out.stdout.split()
    assert package_file.startswith(str(target)) and rubrics.startswith(str(target))
    assert version.startswith("quality@") and dims == "4"
    cli = subprocess.run(
        [sys.executable, str(target / "bin" / "dreval"), "--version"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
    )
    assert cli.returncode == 0 and "dreval" in cli.stdout, cli.stderr
