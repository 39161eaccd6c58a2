"""Issue 21 (hardening, second round): manifests and data CSVs that are broken get a clear refusal, not a score.

    python -m pytest -q tests/test_hardening_data.py

`evaluate` refuses a manifest whose rows name missing files, folders, files outside its
folder, the same file twice or changed files (non-zero exit); a UTF-8 BOM header is read;
`crossval` and `data import` on malformed manifests print the file and line, no traceback.
"""

from __future__ import annotations

import shutil

import pytest

from conftest import skin_like
from skinfindings import cli
from skinfindings.data.manifest import ManifestError, Record, check_files, read_manifest, sha256_file, write_manifest
from skinfindings.findings import FINDINGS

HEADER = "path,sha256," + ",".join(FINDINGS) + ",group,split"


@pytest.fixture
def folder(tmp_path):
    """A small, valid evaluation set: four photos in images/, both labels of each finding, a test split."""
    (tmp_path / "images").mkdir()
    records = []
    for i in range(4):
        path = tmp_path / "images" / f"p{i}.png"
        skin_like(128, seed=i).save(path)
        records.append(Record(path=f"images/p{i}.png", sha256=sha256_file(path), labels={f: i % 2 for f in FINDINGS},
                              group=f"g{i}", license="CC0-1.0", attribution="test", split="test"))
    write_manifest(tmp_path / "manifest.csv", records)
    return tmp_path


def rewrite(folder, change) -> str:
    """The manifest with ``change(lines)`` applied; returns its path."""
    path = folder / "manifest.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(change(lines)) + "\n")
    return str(path)


def replace_path(lines, index, new_path):
    cells = lines[index].split(",")
    cells[0] = new_path
    lines[index] = ",".join(cells)
    return lines


BROKEN = {
    "missing": (lambda lines: replace_path(lines, 1, "images/gone.png"), "missing: images/gone.png"),
    "folder": (lambda lines: replace_path(lines, 1, "images"), "not a file: images"),
    "etc-passwd": (lambda lines: replace_path(lines, 1, "/etc/passwd"), "outside the manifest's folder: /etc/passwd"),
    "climbs-out": (lambda lines: replace_path(lines, 1, "../x.png"), "outside the manifest's folder: ../x.png"),
    "duplicate": (lambda lines: lines + [lines[1]], "listed more than once: images/p0.png"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_check_files_names_every_broken_row(folder, case):
    change, message = BROKEN[case]
    with pytest.raises(ManifestError, match="cannot be used") as refused:
        check_files(read_manifest(rewrite(folder, change)))
    assert message in str(refused.value)


def test_a_changed_file_fails_its_sha256(folder):
    skin_like(128, seed=99).save(folder / "images" / "p2.png")
    with pytest.raises(ManifestError, match=r"sha256 differs\): images/p2.png"):
        check_files(read_manifest(folder / "manifest.csv"))
    check_files(read_manifest(folder / "manifest.csv"), sha256=False)  # the other checks alone pass


@pytest.mark.parametrize("case", ["missing", "etc-passwd", "duplicate", "changed"])
def test_evaluate_refuses_a_broken_manifest_with_a_non_zero_exit(folder, untrained_checkpoint, tmp_path, capsys, case):
    if case == "changed":
        skin_like(128, seed=99).save(folder / "images" / "p2.png")
        manifest = str(folder / "manifest.csv")
    else:
        manifest = rewrite(folder, BROKEN[case][0])
    out = tmp_path / "eval-out"
    code = run_cli(["evaluate", "--checkpoint", str(untrained_checkpoint), "--manifest", manifest,
                    "--out", str(out), "--resamples", "10", "--quiet"])
    assert code != 0 and "cannot be used" in capsys.readouterr().err
    assert not (out / "metrics.json").exists()


def test_evaluate_reads_a_manifest_saved_with_a_byte_order_mark(folder, untrained_checkpoint, tmp_path, capsys):
    path = folder / "manifest.csv"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())  # Excel's "CSV UTF-8"
    assert [r.path for r in read_manifest(path).records][0] == "images/p0.png"
    out = tmp_path / "eval-out"
    assert run_cli(["evaluate", "--checkpoint", str(untrained_checkpoint), "--manifest", str(path), "--out", str(out),
                    "--resamples", "10", "--no-contact-sheet", "--quiet"]) == 0
    assert (out / "metrics.json").exists()


MALFORMED = {
    "bad-label": (HEADER + "\nimages/p0.png,,2,0,0,0,0,g,test\n", "manifest.csv:2: label must be 0, 1 or empty"),
    "bad-ita": (HEADER + ",ita\nimages/p0.png,,1,0,0,0,0,g,test,warm\n", "manifest.csv:2: ita must be a number"),
    "nan-ita": (HEADER + ",ita\nimages/p0.png,,1,0,0,0,0,g,test,nan\n", "ita must be a finite number"),
    "no-path": (HEADER + "\n,,1,0,0,0,0,g,test\n", "manifest.csv:2: no path"),
    "huge-field": (HEADER + "\nimages/p0.png," + "a" * 200_000 + ",1,0,0,0,0,g,test\n", "not a readable CSV row"),
    "not-utf8": (HEADER + "\nimages/p\xe9.png,,1,0,0,0,0,g,test\n", "not UTF-8"),
    "no-columns": ("path,label\nimages/p0.png,1\n", "lacks required column(s)"),
    "empty": ("", "lacks required column(s)"),
}


def write_malformed(tmp_path, case) -> str:
    text, _ = MALFORMED[case]
    path = tmp_path / "bad" / "manifest.csv"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(text.encode("latin-1") if case == "not-utf8" else text.encode())
    return str(path)


def run_cli(argv) -> int:
    """The `skinfindings` entry point in this process: a traceback would fail the test itself."""
    try:
        return cli.main(argv)
    except SystemExit as exit_:  # argparse's parser.exit
        return exit_.code if isinstance(exit_.code, int) else 1


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_crossval_on_a_malformed_manifest_says_the_file_and_line(tmp_path, capsys, case):
    manifest = write_malformed(tmp_path, case)
    code = run_cli(["crossval", "--real", manifest, "--out", str(tmp_path / "cv"), "--epochs", "1"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("skinfindings crossval: ") and MALFORMED[case][1] in err


def test_crossval_on_a_folder_given_as_its_manifest(tmp_path, capsys):
    assert run_cli(["crossval", "--real", str(tmp_path), "--out", str(tmp_path / "cv")]) == 2
    assert "(it is a folder)" in capsys.readouterr().err


@pytest.mark.parametrize("case", ["huge-field", "not-utf8", "bad-label"])
def test_data_import_of_a_malformed_manifest_is_a_clear_error(tmp_path, capsys, case):
    manifest = write_malformed(tmp_path, case)
    code = run_cli(["data", "import", "manifest", manifest, "--out", str(tmp_path / "imported")])
    err = capsys.readouterr().err
    assert code != 0 and MALFORMED[case][1] in err and "Traceback" not in err


def test_a_roboflow_table_with_a_huge_field_is_a_clear_error(tmp_path, capsys):
    export = tmp_path / "export" / "train"
    export.mkdir(parents=True)
    skin_like(64).save(export / "a.jpg")
    (export / "_classes.csv").write_text("filename,acne\na.jpg," + "1" * 200_000 + "\n")
    code = run_cli(["data", "import", "roboflow", str(tmp_path / "export"), "--out", str(tmp_path / "imported")])
    err = capsys.readouterr().err
    assert code != 0 and "_classes.csv:2: not a readable CSV row" in err
    shutil.rmtree(tmp_path / "export")


def test_crossval_on_too_few_patients_for_its_folds_is_a_clear_error(folder, tmp_path, capsys):
    manifest = rewrite(folder, lambda lines: lines[:3])  # two photos, two groups: not enough for 5 folds
    assert run_cli(["crossval", "--real", manifest, "--out", str(tmp_path / "cv"), "--epochs", "1"]) == 2
    assert "5 folds need at least 5 groups; the records form 2" in capsys.readouterr().err
