"""The clinician pre-sort: `skinfindings sort` on a generated folder of good, bad and non-skin files."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import rendered_skin, skin_like
from skinfindings.app import presort as ps
from skinfindings.app import presort_cli, presort_inputs
from skinfindings.app.priority import TIER_BY_KEY
from skinfindings.app.trends import window_for
from skinfindings.data.nonskin import bad_photo_file, out_of_scope_file
from skinfindings.data.synth import SynthConfig, render_sample
from skinfindings.findings import FINDINGS
from skinfindings.model.checkpoint import CheckpointMeta, save_checkpoint
from skinfindings.model.predictor import Predictor
from skinfindings.model.registry import build_model


def jpeg(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90, **options)
    return buffer.getvalue()


def skin_photo(seed: int) -> bytes:
    """A render of plain treated-looking skin (the project's renderer) as a phone JPEG: the quality gate assesses
    it, which it does not promise for flat generated noise."""
    return jpeg(rendered_skin(seed))


def photo_with_gps() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0)}  # GPS: where the patient lives
    return jpeg(skin_like(300, seed=7), exif=exif)


@pytest.fixture
def inbox(tmp_path):
    """A clinic's inbox: good photos, a too-dark one, a screenshot, a broken file, a note, a zip, a hidden file."""
    folder = tmp_path / "inbox"
    (folder / "week2").mkdir(parents=True)
    for i in range(3):
        (folder / f"patient{i}.jpg").write_bytes(skin_photo(i))
    (folder / "week2" / "gps.jpg").write_bytes(photo_with_gps())
    (folder / "dark.jpg").write_bytes(bad_photo_file(np.asarray(skin_like(320, seed=3)), "dark", seed=0))
    (folder / "screen.png").write_bytes(out_of_scope_file("screenshot", seed=0))
    (folder / "broken.jpg").write_bytes(jpeg(skin_like(320, seed=4))[:500])
    (folder / "notes.txt").write_text("call back on Tuesday")
    (folder / ".DS_Store").write_bytes(b"\x00\x01")
    with zipfile.ZipFile(folder / "batch.zip", "w") as archive:
        archive.writestr("day1/a.jpg", jpeg(skin_like(320, seed=5)))
        archive.writestr("../../escape.jpg", jpeg(skin_like(320, seed=6)))
        archive.writestr("inner.zip", b"PK\x05\x06" + b"\x00" * 18)
        archive.writestr("__MACOSX/day1/._a.jpg", b"junk")
    return folder


EXPECTED_NAMES = {
    "inbox/patient0.jpg", "inbox/patient1.jpg", "inbox/patient2.jpg", "inbox/week2/gps.jpg", "inbox/dark.jpg",
    "inbox/screen.png", "inbox/broken.jpg", "inbox/notes.txt", "inbox/batch.zip/day1/a.jpg",
    "inbox/batch.zip/../../escape.jpg", "inbox/batch.zip/inner.zip",
}


def read_rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_collect_inputs_walks_folders_and_archives_and_skips_clutter(inbox):
    inputs = ps.collect_inputs([inbox])
    assert {i.name for i in inputs} == EXPECTED_NAMES
    assert [i.name for i in inputs] == [i.name for i in ps.collect_inputs([inbox])]  # stable order
    problems = {i.name: i.problem for i in inputs if i.problem}
    assert set(problems) == {"inbox/batch.zip/../../escape.jpg", "inbox/batch.zip/inner.zip"}
    with pytest.raises(FileNotFoundError):
        ps.collect_inputs([inbox / "missing"])


def test_sort_cli_writes_every_row_sorted_with_errors_and_a_worklist(inbox, tmp_path, untrained_checkpoint):
    flags = tmp_path / "flags.csv"
    flags.write_text("name,red_flags\npatient2.jpg,fever;pus\nnobody.jpg,pain\n")
    out, page = tmp_path / "report.csv", tmp_path / "report.html"
    code = presort_cli.main([str(inbox), "--out", str(out), "--html", str(page), "--red-flags", str(flags),
                    "--checkpoint", str(untrained_checkpoint), "--no-progress"])
    assert code == 0
    rows = read_rows(out)
    assert {r["name"] for r in rows} == EXPECTED_NAMES and len(rows) == len(EXPECTED_NAMES)
    by_name = {r["name"]: r for r in rows}

    # Ordered by the priority rules: tier rank never decreases down the file; red flags come first.
    ranks = [TIER_BY_KEY[r["tier"]].rank for r in rows]
    assert ranks == sorted(ranks) and rows[0]["name"] == "inbox/patient2.jpg"
    assert by_name["inbox/patient2.jpg"]["tier"] == "urgent" and by_name["inbox/patient2.jpg"]["red_flags"] == "fever;pus"

    # Unreadable and unassessable photos are rows with their reason, never dropped, never given numbers.
    for name in ("inbox/broken.jpg", "inbox/notes.txt", "inbox/batch.zip/../../escape.jpg", "inbox/batch.zip/inner.zip"):
        assert by_name[name]["error"] and by_name[name]["tier"] == "check", name
    assert by_name["inbox/dark.jpg"]["abstain_code"] == "too_dark"
    assert by_name["inbox/screen.png"]["abstain_code"] == "not_skin"
    for name in ("inbox/dark.jpg", "inbox/screen.png", "inbox/broken.jpg"):
        assert all(by_name[name][f] == "" for f in FINDINGS) and by_name[name]["possible_findings"] == ""
    assessed = by_name["inbox/patient0.jpg"]
    assert all(0.0 <= float(assessed[f]) <= 1.0 for f in FINDINGS) and assessed["abstain_code"] == ""

    # The id is the hash of the file's bytes; the model column says which weights made the row.
    digest = hashlib.sha256((inbox / "patient1.jpg").read_bytes()).hexdigest()[:12]
    assert by_name["inbox/patient1.jpg"]["photo_id"] == digest
    assert len({r["model"] for r in rows}) == 1 and rows[0]["model"].startswith("untrained@")

    html_text = page.read_text(encoding="utf-8")
    assert html_text.count("data:image/jpeg;base64,") == sum(1 for r in rows if not r["error"])
    assert "../../escape.jpg" in html_text and "<script" not in html_text.lower()
    assert html_text.index("inbox/patient2.jpg") < html_text.index("inbox/broken.jpg")  # worklist order
    assert "not a diagnosis" in html_text.lower()


def test_thumbnails_are_256_px_and_carry_no_metadata(tmp_path, untrained_checkpoint):
    (tmp_path / "gps.jpg").write_bytes(photo_with_gps())
    assert Image.open(tmp_path / "gps.jpg").getexif()  # the source photo does carry EXIF
    rows = ps.presort(Predictor(untrained_checkpoint), [tmp_path / "gps.jpg"])
    thumb = rows[0].thumbnail
    assert thumb is not None and max(thumb.size) == ps.WORKLIST_SIDE and not thumb.info and not thumb.getexif()
    page = ps.write_html(rows, tmp_path / "w.html").read_text()
    encoded = re.search(r"data:image/jpeg;base64,([A-Za-z0-9+/=]+)", page).group(1)
    embedded = Image.open(io.BytesIO(base64.b64decode(encoded)))
    assert not embedded.getexif() and "exif" not in embedded.info and b"PhoneMaker" not in base64.b64decode(encoded)


def test_a_rerun_skips_photos_already_in_the_csv(inbox, tmp_path, untrained_checkpoint, monkeypatch):
    predictor = Predictor(untrained_checkpoint)
    journal = tmp_path / "report.csv"
    first = ps.presort(predictor, [inbox], resume_from=journal)
    ps.write_csv(first, journal)
    (inbox / "late.jpg").write_bytes(jpeg(skin_like(320, seed=11)))

    predicted: list[str] = []
    original = predictor.predict_many

    def counting(photos, names=None, progress=False):
        predicted.extend(names)
        return original(photos, names=names, progress=progress)

    monkeypatch.setattr(predictor, "predict_many", counting)
    second = ps.presort(predictor, [inbox], resume_from=journal)
    # Only the new photo and the files that could not be read are tried again.
    assert "inbox/late.jpg" in predicted and "inbox/patient0.jpg" not in predicted
    assert {r.name for r in second} == EXPECTED_NAMES | {"inbox/late.jpg"}
    old = {r.name: r for r in first}
    for row in second:
        if row.name in old and old[row.name].assessed:
            assert row.probabilities == pytest.approx(old[row.name].probabilities, abs=1e-4)
            assert row.tier == old[row.name].tier and row.thumbnail is not None
            assert row.levels == old[row.name].levels and row.reused  # levels again from the same cut-offs


def test_an_interrupted_run_resumes_from_its_journal(inbox, tmp_path, untrained_checkpoint):
    predictor = Predictor(untrained_checkpoint, batch_size=4)
    journal = tmp_path / "report.csv"
    ps.presort(predictor, [inbox], resume_from=journal)
    # Simulate a crash mid-write: the last journal line is cut short.
    text = journal.read_text(encoding="utf-8")
    journal.write_text(text[: len(text) - 15], encoding="utf-8")
    done_before = {r.photo_id for r in ps.read_csv(journal)}
    rows = ps.presort(predictor, [inbox], resume_from=journal)
    assert {r.name for r in rows} == EXPECTED_NAMES
    final = ps.write_csv(rows, journal)
    assert {r["name"] for r in read_rows(final)} == EXPECTED_NAMES and len(read_rows(final)) == len(rows)
    assert done_before and all(r.model for r in ps.read_csv(final))


def test_resume_refuses_a_csv_that_is_not_a_presort(inbox, tmp_path, untrained_checkpoint):
    other = tmp_path / "patients.csv"
    other.write_text("name,phone\nana,123\n")
    code = presort_cli.main([str(inbox), "--out", str(other), "--checkpoint", str(untrained_checkpoint), "--no-progress"])
    assert code == 2 and other.read_text() == "name,phone\nana,123\n"  # never overwritten


def test_unknown_red_flags_are_refused(inbox, tmp_path, untrained_checkpoint):
    flags = tmp_path / "flags.csv"
    flags.write_text("name,red_flags\npatient0.jpg,itchy elbows\n")
    code = presort_cli.main([str(inbox), "--out", str(tmp_path / "r.csv"), "--red-flags", str(flags),
                    "--checkpoint", str(untrained_checkpoint), "--no-progress"])
    assert code == 2 and not (tmp_path / "r.csv").exists()
    with pytest.raises(ValueError):
        ps.presort(Predictor(untrained_checkpoint), [inbox], red_flags={"patient0.jpg": {"sneezing"}})


def test_zip_members_are_capped(tmp_path, monkeypatch):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("huge.jpg", b"\x00" * (4 << 20))  # 4 MiB that compress to almost nothing
        archive.writestr("ok.jpg", jpeg(skin_like(200)))
    problems = {i.name: i.problem for i in ps.collect_inputs([bomb])}
    assert problems["bomb.zip/huge.jpg"] and problems["bomb.zip/ok.jpg"] is None
    monkeypatch.setattr(presort_inputs, "MAX_ZIP_MEMBERS", 1)
    [only] = ps.collect_inputs([bomb])
    assert only.name == "bomb.zip" and "at most 1" in only.problem


# ----------------------------------------------------------------------------- by patient


@pytest.fixture(scope="module")
def redness_checkpoint(tmp_path_factory):
    """A real checkpoint whose model reports possible redness on every photo and nothing else,
    so that only the timing can move a patient up (pustules or crusting would do it on their own)."""
    torch.manual_seed(0)
    model = build_model("mobilenet_v3_small", len(FINDINGS))
    with torch.no_grad():
        model.classifier[-1].weight.zero_()
        model.classifier[-1].bias.copy_(torch.tensor([6.0, -6.0, -6.0, -6.0, -6.0]))
    meta = CheckpointMeta(arch="mobilenet_v3_small", input_size=128)
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "redness", model.eval(), meta)


@pytest.fixture
def clinic(tmp_path):
    """Two patients after microneedling: ana on days 1 and 2 (redness expected), ben on days 1 and 9 (late)."""
    folder = tmp_path / "clinic"
    for patient, days in (("ana", (1, 2)), ("ben", (1, 9))):
        (folder / patient).mkdir(parents=True)
        for i, day in enumerate(days):
            (folder / patient / f"p{i}.jpg").write_bytes(skin_photo(20 + 3 * day + len(patient) + i))
    return folder


def by_name(path):
    return {row["name"]: row for row in read_rows(path)}


def assert_ben_moved_up_and_ana_not(rows):
    last_day = window_for("erythema", "microneedling").last_day
    assert last_day < 9  # the case below is "late" only because guidance.json says so
    assert {r["patient"] for r in rows.values()} == {"ana", "ben"}
    for name, row in rows.items():
        assert row["possible_findings"] == "erythema"  # the same finding on every photo ...
        if "/ben/" in name:  # ... but only ben's is still there after its window
            assert row["tier"] == "review" and row["trend_flags"] == "erythema" and "erythema=late" in row["trend"]
        else:
            assert row["tier"] == "routine" and row["trend_flags"] == "" and "erythema=expected" in row["trend"]
    assert rows["clinic/ben/p1.jpg"]["day"] == "9"


def test_presort_by_patient_from_a_map_csv(clinic, tmp_path, redness_checkpoint):
    mapping = tmp_path / "map.csv"
    mapping.write_text("file,patient,day,date,treatment_date\nclinic/ana/p0.jpg,ana,1,,\nclinic/ana/p1.jpg,ana,,"
                       "2026-03-03,2026-03-01\nclinic/ben/p0.jpg,ben,1,,\nclinic/ben/p1.jpg,ben,9,,\n")
    out, page = tmp_path / "r.csv", tmp_path / "r.html"
    code = presort_cli.main([str(clinic), "--out", str(out), "--html", str(page), "--patients", str(mapping),
                             "--treatment", "microneedling", "--checkpoint", str(redness_checkpoint), "--no-progress"])
    assert code == 0
    rows = by_name(out)
    assert len(rows) == 4  # still one row per photo
    assert rows["clinic/ana/p1.jpg"]["day"] == "2"  # from the date and the treatment date
    assert_ben_moved_up_and_ana_not(rows)
    html_page = page.read_text()
    assert html_page.index("Patient ben") < html_page.index("Patient ana")  # the patient moved up comes first
    assert html_page.count('<section class="patient') == 2 and 'data-verdict="late"' in html_page


def test_presort_by_patient_folders_with_days_files(clinic, tmp_path, redness_checkpoint):
    (clinic / "ana" / "days.csv").write_text("file,day\np0.jpg,1\np1.jpg,2\n")
    (clinic / "ben" / "days.csv").write_text("file,date,treatment_date,treatment\np0.jpg,2026-03-02,2026-03-01,"
                                             "microneedling\np1.jpg,2026-03-10,2026-03-01,microneedling\n")
    out = tmp_path / "r.csv"
    code = presort_cli.main([str(clinic), "--out", str(out), "--patient-folders", "--treatment", "microneedling",
                             "--checkpoint", str(redness_checkpoint), "--no-progress"])
    assert code == 0
    rows = by_name(out)
    assert set(rows) == {f"clinic/{p}/p{i}.jpg" for p in ("ana", "ben") for i in (0, 1)}  # days.csv is no photo
    assert_ben_moved_up_and_ana_not(rows)


@pytest.mark.parametrize("line, message", [
    ("clinic/ana/p0.jpg,ana,-2", "before the treatment"), ("clinic/ana/p0.jpg,ana,400", "more than a year"),
    ("clinic/ana/p0.jpg,,3", "no patient"), ("clinic/ana/p0.jpg,ana,soon", "whole number"),
])
def test_a_bad_day_in_the_map_stops_before_sorting(clinic, tmp_path, untrained_checkpoint, capsys, line, message):
    mapping = tmp_path / "map.csv"
    mapping.write_text(f"file,patient,day\n{line}\n")
    code = presort_cli.main([str(clinic), "--out", str(tmp_path / "r.csv"), "--patients", str(mapping),
                             "--checkpoint", str(untrained_checkpoint), "--no-progress"])
    assert code == 2 and not (tmp_path / "r.csv").exists()
    err = capsys.readouterr().err
    assert message in err and f"{mapping} line 2" in err


def test_the_apps_presort_tab_takes_a_patients_csv_among_the_uploads(clinic, tmp_path, redness_checkpoint):
    from skinfindings.app import presort_tab

    mapping = tmp_path / "patients.csv"
    mapping.write_text("file,patient,day,treatment\np0.jpg,ana,1,microneedling\np1.jpg,ana,2,microneedling\n")
    photos = [clinic / "ana" / "p0.jpg", clinic / "ana" / "p1.jpg"]
    page = presort_tab.run_presort(Predictor(redness_checkpoint), [*map(str, photos), str(mapping)])
    assert page.count("<tr data-tier=") == 2  # the CSV is not sorted as a photo
    assert "Patient ana" in page and "patient ana, day 2" in page and 'data-verdict="expected"' in page
    mapping.write_text("file,patient,day\np0.jpg,ana,-1\n")
    refused = presort_tab.run_presort(Predictor(redness_checkpoint), [*map(str, photos), str(mapping)])
    assert "patients.csv line 2" in refused and "before the treatment" in refused and str(tmp_path) not in refused


def test_patient_folders_given_as_the_current_folder(clinic, monkeypatch):
    from skinfindings.app.presort_patients import PatientEntry, folder_patients

    (clinic / "ben" / "days.csv").write_text("file,day\np1.jpg,9\n")
    monkeypatch.chdir(clinic)
    table = folder_patients(["."], treatment="halo_laser")
    names = {i.name for i in ps.collect_inputs(["."], exclude=table.sources)}
    assert names == {"ana/p0.jpg", "ana/p1.jpg", "ben/p0.jpg", "ben/p1.jpg"}
    assert table.lookup("ana/p0.jpg") == PatientEntry("ana", None, "halo_laser")  # in the folder, no day given
    assert table.lookup("ben/p1.jpg").day == 9 and table.lookup("ben/p0.jpg").day is None


# ------------------------------------------------------------------ issue 22: a worklist a nurse can trust


@pytest.fixture(scope="module")
def levels_checkpoint(tmp_path_factory):
    """Every photo: redness likely, crusting and pustules only *possible* (between their two cut-offs), the rest not
    seen. Its rule-in points differ from its thresholds, unlike today's shipped model."""
    torch.manual_seed(0)
    model = build_model("mobilenet_v3_small", len(FINDINGS))
    with torch.no_grad():
        model.classifier[-1].weight.zero_()
        model.classifier[-1].bias.copy_(torch.tensor([4.0, 0.0, -6.0, -1.0, -6.0]))  # p = .98 .50 .00 .27 .00
    meta = CheckpointMeta(arch="mobilenet_v3_small", input_size=128, thresholds=[0.5, 0.3, 0.5, 0.2, 0.5],
                          rule_in=[0.9, 0.6, 0.9, 0.5, 0.9])
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "levels", model.eval(), meta)


def test_the_worklist_order_reasons_and_headers(clinic, tmp_path, levels_checkpoint, capsys):
    """Red flags first; possible pustules/crusting and unreadable photos in "check", never "review first"; each row
    says why in clinician words; a patient's photos together; the photo list before the patients' timelines."""
    (clinic / "broken.jpg").write_bytes(b"not a photo")
    flags = tmp_path / "flags.csv"
    flags.write_text("name,red_flags\np1.jpg,fever\n")  # both patients' p1.jpg: a file name flags every match
    mapping = tmp_path / "map.csv"
    mapping.write_text("file,patient,day\nclinic/ana/p0.jpg,ana,1\nclinic/ana/p1.jpg,ana,2\nclinic/ben/p0.jpg,ben,1\n")
    out, page = tmp_path / "new" / "folder" / "r.csv", tmp_path / "w.html"
    code = presort_cli.main([str(clinic), "--out", str(out), "--html", str(page), "--red-flags", str(flags),
                             "--patients", str(mapping), "--treatment", "microneedling",
                             "--checkpoint", str(levels_checkpoint), "--no-progress"])
    assert code == 0 and out.is_file()  # --out into a folder that did not exist
    rows = read_rows(out)
    by = {r["name"]: r for r in rows}
    assert by["clinic/ben/p0.jpg"]["tier"] == "check"  # possible pustules/crusting alone: never "review first"
    # ana's pustules, possible on day 1 and day 2, are never more than possible: a course to watch (trends), not
    # "review first" (issue 22 point 1: a possible escalating finding does not raise the level by itself).
    assert by["clinic/ana/p0.jpg"]["tier"] == "check"
    assert "possible pustules 0.27 (watch)" in by["clinic/ana/p0.jpg"]["reasons"]
    assert "later than expected" not in by["clinic/ana/p0.jpg"]["reasons"]
    assert by["clinic/ana/p1.jpg"]["tier"] == "urgent" and by["clinic/ben/p1.jpg"]["tier"] == "urgent"
    assert by["clinic/ana/p1.jpg"]["reasons"].startswith("red flag: fever")
    assert "possible pustules 0.27 (watch)" in by["clinic/ben/p0.jpg"]["reasons"]
    assert "possible crusting 0.50 (watch)" not in by["clinic/ben/p0.jpg"]["reasons"]  # day 1: expected healing
    # Day 1 after microneedling: crusting is expected healing, so only the pustules are to watch.
    assert "crusting 0.50, expected day 1 after microneedling" in by["clinic/ana/p0.jpg"]["reasons"]
    assert "likely erythema 0.98" in by["clinic/ana/p0.jpg"]["reasons"]
    assert by["clinic/broken.jpg"]["tier"] == "check" and "could not be assessed" in by["clinic/broken.jpg"]["reasons"]
    assert by["clinic/ana/p0.jpg"]["levels"].startswith("erythema=likely;crusting=possible")
    # A patient's photos sit together, by day.
    names = [r["name"] for r in rows]
    assert names.index("clinic/ana/p1.jpg") == names.index("clinic/ana/p0.jpg") + 1
    html_page = page.read_text()
    assert html_page.index('id="tier-urgent"') < html_page.index('id="tier-check"') < html_page.index("<h2>Patients")
    assert "Possible possible" not in html_page and "Check: possible pustules or crusting" in html_page
    assert html_page.count("<figcaption>clinic/") == 4 and "clinic/broken.jpg" in html_page  # thumbnail + file name
    assert "This photo alone: Check" in html_page  # ana p0 listed with ana under urgent, with its own tier
    assert 'data-verdict="watch"' in html_page  # ana's pustules: a course to watch
    # A rerun says how many rows it reused.
    capsys.readouterr()
    presort_cli.main([str(clinic), "--out", str(out), "--checkpoint", str(levels_checkpoint), "--no-progress"])
    assert "4 of 5 rows reused from the earlier run" in capsys.readouterr().out  # the broken file is tried again
