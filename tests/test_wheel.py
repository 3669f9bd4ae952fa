"""A wheel built from the tree finds its presets outside the source tree and carries no experiment driver
(slow: builds a wheel)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_runs_a_preset_from_any_directory(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(ROOT)],
        check=True,
        cwd=tmp_path,
    )
    (wheel,) = wheels.glob("ssl_skel-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "ssl_skel/configs/synthetic.yaml" in names and "ssl_skel/configs/ntu60_xview.yaml" in names
    assert {f"ssl_skel/data/layout_files/{n}.yaml" for n in ("ntu25", "openpose25", "sbu15", "penn13")} <= set(names)
    # experiment drivers (benchmarks/real_data.py and its realdata/ modules) stay in the source tree
    drivers = [n for n in names if n.endswith("commands/benchmark.py") or n.split("/")[0] in ("benchmarks", "realdata")]
    assert not drivers and not any("real_data" in n for n in names), drivers
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "ssl_skel.cli", *args], cwd=work, env=env, capture_output=True, text=True
        )

    where = subprocess.run(
        [sys.executable, "-c", "import ssl_skel, sys; sys.stdout.write(ssl_skel.__file__)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(str(site)), where  # the wheel's copy, not the source tree
    made = cli("gendata", "synthetic", "--out", "data/synthetic")
    assert made.returncode == 0, made.stderr
    run = cli(
        "pretrain", "--config", "synthetic", "train.epochs=1", "train.max_steps_per_epoch=2", "data.num_workers=0"
    )
    assert run.returncode == 0, run.stderr
    assert (work / "runs" / "synthetic" / "last.pt").is_file()


def test_the_package_holds_no_experiment_driver():
    """The real-data benchmark lives in benchmarks/, outside the importable package."""
    assert not (ROOT / "ssl_skel" / "commands" / "benchmark.py").exists()
    assert (ROOT / "benchmarks" / "real_data.py").is_file() and (ROOT / "benchmarks" / "realdata").is_dir()
    assert not (ROOT / "benchmarks" / "__init__.py").exists()  # not a package setup.py could pick up
