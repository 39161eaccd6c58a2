"""Packaging: one namespace, a working console script."""

from __future__ import annotations

import importlib.util
import subprocess
import sys


def test_no_generic_top_level_modules_are_importable(tmp_path):
    # From a neutral folder, as an installed user sees it (the repo root is not on sys.path there).
    probe = "import importlib.util as u; print([n for n in ('app', 'data', 'model', 'training') if u.find_spec(n)])"
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path)
    assert run.stdout.strip() == "[]", f"generic top-level packages are importable: {run.stdout}"


def test_subpackages_live_under_the_namespace():
    for name in ("skinfindings.app", "skinfindings.data", "skinfindings.model", "skinfindings.training"):
        assert importlib.util.find_spec(name) is not None


def test_cli_lists_commands_and_rejects_unknown_ones():
    ok = subprocess.run([sys.executable, "-m", "skinfindings", "--help"], capture_output=True, text=True)
    assert ok.returncode == 0 and "predict" in ok.stdout and "not a diagnosis" in ok.stdout.lower()
    bad = subprocess.run([sys.executable, "-m", "skinfindings", "frobnicate"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown command" in bad.stderr


def test_predict_command_prints_json_per_photo(tmp_path, untrained_checkpoint):
    import json

    from conftest import skin_like

    skin_like().save(tmp_path / "a.png")
    (tmp_path / "b.jpg").write_bytes(b"\x00" * 10)
    run = subprocess.run(
        [sys.executable, "-m", "skinfindings", "predict", str(tmp_path / "a.png"), str(tmp_path / "b.jpg"),
         "--checkpoint", str(untrained_checkpoint)], capture_output=True, text=True)
    rows = [json.loads(line) for line in run.stdout.splitlines()]
    assert [r["photo"] for r in rows] == ["a.png", "b.jpg"]
    assert rows[0]["error"] is None and rows[1]["error"]
    assert run.returncode == 1  # a failed photo is reported in the exit code too


def test_clone_root_does_not_shadow_a_non_editable_install(tmp_path):
    """The README's researcher commands run from the clone root after a plain ``pip install .``.

    Python puts the working folder first on sys.path for ``python -m`` and ``python -c`` (the
    benchmark's child processes), so a root folder named like the package would hide the install.
    """
    import os
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    target = tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--isolated", "--no-deps", "--no-build-isolation", "-q",
         "--target", str(target), str(root)], capture_output=True, text=True, cwd=tmp_path)
    assert build.returncode == 0, build.stderr[-2000:]
    env = {**os.environ, "PYTHONPATH": str(target)}
    where = subprocess.run([sys.executable, "-c", "import skinfindings.model as m; print(m.__file__)"],
                           capture_output=True, text=True, cwd=root, env=env)
    assert where.returncode == 0, where.stderr[-2000:]
    assert Path(where.stdout.strip()).is_relative_to(target)
    for module in ("skinfindings.model.gate_eval", "skinfindings.data.realism", "skinfindings.training.arch_sweep"):
        run = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, cwd=root, env=env)
        assert run.returncode == 0 and "usage" in run.stdout.lower(), f"{module}: {run.stderr[-1000:]}"
