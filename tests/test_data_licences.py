"""The licence gate: normalised ids, allowed / non-commercial / private / refused, and the CLI exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import skin_like

from skinfindings.data.cli import main as data_main
from skinfindings.data.licenses import PRIVATE_LICENCE, LicenceError, check_licences, normalise_license
from skinfindings.data.manifest import Manifest, Record, sha256_file, write_manifest


@pytest.mark.parametrize("text, expected", [
    ("CC BY 4.0", "CC-BY-4.0"),
    ("cc-by-4.0", "CC-BY-4.0"),
    ("Attribution 4.0 International (CC BY 4.0)", "CC-BY-4.0"),
    ("https://creativecommons.org/licenses/by-sa/3.0/", "CC-BY-SA-3.0"),
    ("CC BY-NC-SA 4.0", "CC-BY-NC-SA-4.0"),
    ("Creative Commons Attribution-NonCommercial 4.0 International", "CC-BY-NC-4.0"),
    ("CC0", "CC0-1.0"),
    ("CC0 1.0 Universal", "CC0-1.0"),
    ("Public Domain Dedication", "CC0-1.0"),
    ("Open Data Commons Public Domain Dedication and License (PDDL)", "PDDL-1.0"),
    ("Attribution-NoDerivatives 4.0", "CC-BY-ND-4.0"),
    ("private consented", PRIVATE_LICENCE),
])
def test_common_spellings_normalise_to_spdx_like_ids(text, expected):
    assert normalise_license(text) == expected


def test_texts_that_are_not_a_licence_are_returned_not_guessed():
    assert normalise_license("  Provided by a Roboflow user ") == "Provided by a Roboflow user"
    assert normalise_license("cc by") == "CC-BY"  # no version is invented
    assert normalise_license("") == ""


def _manifest(licences: list[str]) -> Manifest:
    return Manifest(Path("."), [Record(path=f"img{i}.jpg", license=lic) for i, lic in enumerate(licences)])


def test_open_licences_pass_and_are_counted_by_id():
    report = check_licences(_manifest(["CC0", "CC BY 4.0", "cc-by-4.0", "CC BY-SA 4.0", "PDDL"]))
    assert report.licences == {"CC-BY-4.0": 2, "CC-BY-SA-4.0": 1, "CC0-1.0": 1, "PDDL-1.0": 1}
    assert not report.non_commercial and not report.private


def test_non_commercial_needs_the_flag_and_then_marks_the_report():
    manifest = _manifest(["CC BY 4.0", "CC BY-NC 4.0"])
    with pytest.raises(LicenceError) as refused:
        check_licences(manifest)
    assert refused.value.files == ["img1.jpg"]
    assert "img1.jpg" in str(refused.value) and "--allow-non-commercial" in str(refused.value)
    report = check_licences(manifest, allow_non_commercial=True)
    assert report.non_commercial and report.licences["CC-BY-NC-4.0"] == 1


def test_unknown_missing_and_no_derivative_licences_are_refused_naming_every_file():
    manifest = _manifest(["CC BY 4.0", "All rights reserved", "", "CC BY-ND 4.0", "CC BY-NC-ND 4.0"])
    with pytest.raises(LicenceError) as refused:
        check_licences(manifest, allow_non_commercial=True)
    assert sorted(refused.value.files) == ["img1.jpg", "img2.jpg", "img3.jpg", "img4.jpg"]
    message = str(refused.value)
    assert "All rights reserved" in message and "no licence recorded" in message and "ND" in message


def test_private_clinic_photos_need_their_own_flag():
    manifest = _manifest([PRIVATE_LICENCE, "CC0"])
    with pytest.raises(LicenceError, match="--allow-private"):
        check_licences(manifest, allow_non_commercial=True)
    report = check_licences(manifest, allow_private=True)
    assert report.private and not report.non_commercial


def test_long_refusals_name_the_first_files_and_count_the_rest():
    with pytest.raises(LicenceError) as refused:
        check_licences(_manifest(["Proprietary"] * 30))
    assert len(refused.value.files) == 30 and "and 10 more" in str(refused.value)


def _photo_manifest(folder: Path, licences: list[str]) -> Path:
    records = []
    for i, licence in enumerate(licences):
        path = folder / f"p{i}.png"
        skin_like(64, seed=i).save(path)
        records.append(Record(path=path.name, sha256=sha256_file(path), labels={}, license=licence, group=f"g{i}"))
    return write_manifest(folder / "manifest.csv", records)


def test_check_command_fails_on_a_non_commercial_file_unless_allowed(tmp_path, capsys):
    manifest = _photo_manifest(tmp_path, ["CC BY 4.0", "CC BY-NC 4.0"])
    assert data_main(["check", str(manifest)]) == 1
    assert "p1.png" in capsys.readouterr().err
    assert data_main(["check", str(manifest), "--allow-non-commercial"]) == 0
    assert "NON-COMMERCIAL" in capsys.readouterr().out


def test_import_refused_by_the_gate_writes_nothing(tmp_path, capsys):
    (tmp_path / "photos" / "erythema").mkdir(parents=True)
    skin_like(64).save(tmp_path / "photos" / "erythema" / "a.png")
    out = tmp_path / "out"
    code = data_main(["import", "folder", str(tmp_path / "photos"), "--out", str(out),
                      "--license", "All rights reserved"])
    assert code == 1 and "a.png" in capsys.readouterr().err
    assert not (out / "manifest.csv").exists()
