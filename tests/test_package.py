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
