"""Issue 21 (hardening, second round), the app's parts that need no server.

    python -m pytest -q tests/test_hardening_app.py

Upload folders of an app that was killed (kill -9) are removed at the next start, a living
app's folder never; the pre-sort tab warns about patients-list names that matched no photo,
as the CLI does.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

from conftest import skin_like
from skinfindings.app import presort_tab, privacy
from skinfindings.model.predictor import Predictor

KILLED_APP = textwrap.dedent("""
    import os, signal, sys
    from skinfindings.app import privacy
    folder = privacy.private_dir()
    (folder / "abc").mkdir()
    (folder / "abc" / "photo.jpg").write_bytes(b"a patient's photo")
    print(folder, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # no exit handler runs
""")


def run_python(code: str, tmp) -> subprocess.CompletedProcess:
    env = {**os.environ, "TMPDIR": str(tmp)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


def test_the_upload_folder_of_a_killed_app_is_removed_at_the_next_start(tmp_path):
    killed = run_python(KILLED_APP, tmp_path)
    assert killed.returncode == -signal.SIGKILL
    left = tmp_path / os.path.basename(killed.stdout.strip())
    assert (left / "abc" / "photo.jpg").exists()  # what kill -9 leaves behind
    started = run_python("from skinfindings.app import privacy; print(privacy.private_dir())", tmp_path)
    assert started.returncode == 0, started.stderr
    assert not left.exists()


def test_a_running_apps_folder_is_never_removed(tmp_path):
    ours = privacy.private_dir()  # this process is alive and holds its folder's lock
    (ours / "keep").mkdir(exist_ok=True)
    assert ours not in privacy.remove_abandoned_folders(ours.parent)
    assert (ours / "keep").exists()
    (ours / "keep").rmdir()


def test_the_presort_tab_warns_about_names_in_the_patients_list_that_matched_no_photo(tmp_path, untrained_checkpoint):
    skin_like(160, seed=1).save(tmp_path / "ana-day3.jpg")
    mapping = tmp_path / "patients.csv"
    mapping.write_text("file,patient,day\nana-day3.jpg,ana,3\nana-dya7.jpg,ana,7\n")  # a typo: no such photo
    page = presort_tab.run_presort(Predictor(untrained_checkpoint), [str(tmp_path / "ana-day3.jpg"), str(mapping)])
    assert "matched no photo: ana-dya7.jpg" in page
