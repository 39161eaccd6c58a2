"""python -m skinfindings.model.gate_eval --out docs/gate.md [--real MANIFEST] [--faces FOLDER] [--n-synth 120] [--n-per-kind 30]

Measures the abstention gate (model/quality.py) through the Predictor, the path every
photo takes (decode, skin crop, resize, gate):

* good photos that must NOT be refused: synthetic skin (data/synth.py, all six
  Fitzpatrick types), the real skin photos of a manifest, ordinary face portraits and
  selfie-like crops of them (the face's landmark box, one cheek; every refusal there is
  a false refusal);
* photos that must be refused: generated out-of-scope images and generated bad
  photos (data/nonskin.py), the bad ones made from synthetic and from real skin, and
  real skin and faces saved at JPEG quality 2-5 at their full size;
* two real non-skin photos that ship with scikit-learn (a building, a flower).

It also measures the skin crop (model/skin_crop.py): on the portraits, against the face
box their landmarks give; on the real close-ups, how much of the frame it keeps.

Writes a Markdown report; nothing from the real set or the faces is written anywhere.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from skinfindings.data.manifest import read_manifest
from skinfindings.data.nonskin import BAD_PHOTOS, EXPECTED, OUT_OF_SCOPE, bad_photo_file, encode, out_of_scope_file
from skinfindings.data.photo import load_photo
from skinfindings.model.checkpoint import DEFAULT_CHECKPOINT
from skinfindings.model.quality import REASONS, THRESHOLDS, WHITE_CHROMA
from skinfindings.model.skin_colour import colour_planes
from skinfindings.model.skin_crop import SETTINGS as CROP_SETTINGS
from skinfindings.model.skin_crop import Box, crop_box
from skinfindings.model.transforms import DRAFT_FACTOR

DEFAULT_REAL = Path("../shared/data/real/manifest.csv")  # the project's real set, outside the repo
DEFAULT_FACES = Path("../shared/data/faces")  # ordinary face portraits with landmarks, outside the repo
COMMAND = "python -m skinfindings.model.gate_eval --out docs/gate.md"


@dataclass
class Case:
    group: str  # the table row it is counted in
    name: str
    data: bytes | str  # file bytes, or a path
    expected: str | None  # reason it should trigger; None = must not be refused
    tone: str = ""  # Fitzpatrick type where known (faces: self-reported ethnicity)


@dataclass
class Outcome:
    case: Case
    reason: str | None
    error: str | None
    stats: dict[str, float] = field(default_factory=dict)


def synth_cases(n: int) -> tuple[list[Case], list[np.ndarray]]:
    from skinfindings.data.synth import SynthConfig, render_sample

    cases, images = [], []
    for seed in range(n):
        sample = render_sample(seed, SynthConfig(size=256))
        images.append(sample.image)
        cases.append(Case("synthetic skin", f"synth-{seed}", encode(sample.image, "JPEG", sample.jpeg_quality), None,
                          sample.fitzpatrick))
    return cases, images


def real_cases(manifest_path: Path) -> tuple[list[Case], list[np.ndarray]]:
    manifest = read_manifest(manifest_path)
    cases, images = [], []
    for record in manifest.records:
        path = manifest.resolve(record)
        marks = " (pen marks)" if record.extra.get("pen_marks") == "yes" else ""
        cases.append(Case("real skin photos", f"{Path(record.path).name}{marks}", str(path), None, record.fitzpatrick))
        images.append(np.asarray(load_photo(path)))
    return cases, images


# ----------------------------------------------------------------------------- faces


def landmark_face_box(points: list[list[float]], margin: float = 0.0) -> Box:
    """The face as its landmarks bound it (hairline, ears, chin), with ``margin`` of its size on each side."""
    xy = np.asarray(points, np.float64)
    (left, top), (right, bottom) = xy.min(0), xy.max(0)
    pad_x, pad_y = margin * (right - left), margin * (bottom - top)
    return int(left - pad_x), int(top - pad_y), int(np.ceil(right + pad_x)), int(np.ceil(bottom + pad_y))


def cheek_box(points: list[list[float]], side: int) -> Box:
    """A square on one cheek (``side`` 0: the image's left, 1: its right), below and outside that eye's pupil.

    Landmarks 0 and 1 are the pupils; the square is 0.3 of the face's width, as a selfie of a cheek frames it."""
    left, top, right, bottom = landmark_face_box(points)
    width, height = right - left, bottom - top
    pupil_x, pupil_y = points[side]
    centre_x, centre_y = pupil_x + (0.08 if side else -0.08) * width, pupil_y + 0.2 * height
    half = 0.15 * width
    return int(centre_x - half), int(centre_y - half), int(centre_x + half), int(centre_y + half)


@dataclass
class Face:
    name: str
    path: Path
    ethnicity: str
    landmarks: list[list[float]] | None  # neutral portraits only


def read_faces(folder: Path) -> list[Face]:
    manifest = read_manifest(folder / "manifest.csv")
    landmarks = json.loads((folder / "landmarks.json").read_text())
    return [Face(Path(r.path).name, manifest.resolve(r), r.extra.get("ethnicity", ""), landmarks.get(Path(r.path).name))
            for r in manifest.records]


def face_cases(faces: list[Face]) -> tuple[list[Case], list[np.ndarray]]:
    """The portraits as they are, and selfie-like crops of the neutral ones (face box; one cheek, alternating sides)."""
    cases, images = [], []
    for index, face in enumerate(faces):
        cases.append(Case("face portraits", face.name, str(face.path), None, face.ethnicity))
        if face.landmarks is None:
            continue
        image = load_photo(face.path)
        images.append(np.asarray(image))
        for group, box in (("selfie-like crops: face box", landmark_face_box(face.landmarks, 0.1)),
                           ("selfie-like crops: one cheek", cheek_box(face.landmarks, index % 2))):
            cases.append(Case(group, f"{face.name} {box}", encode(np.asarray(image.crop(box)), "JPEG", 92), None,
                              face.ethnicity))
    return cases, images


def out_of_scope_cases(n: int) -> list[Case]:
    return [Case(f"out of scope: {kind}", f"{kind}-{seed}", out_of_scope_file(kind, seed), EXPECTED[kind])
            for kind in OUT_OF_SCOPE for seed in range(n)]


def bad_cases(source: str, images: list[np.ndarray], n: int) -> list[Case]:
    picked = images[:n]
    return [Case(f"bad photo ({source}): {kind}", f"{kind}-{i}", bad_photo_file(image, kind, i), EXPECTED[kind])
            for kind in BAD_PHOTOS for i, image in enumerate(picked)]


def full_size_jpeg_cases(source: str, images: list[np.ndarray], n: int) -> list[Case]:
    """The photo at its own size saved at JPEG quality 2-5 (a photo forwarded through a careless app, issue 21)."""
    return [Case(f"bad photo ({source}): JPEG quality 2-5, full size", f"q{2 + i % 4}-{i}",
                 encode(image, "JPEG", 2 + i % 4), "compressed") for i, image in enumerate(images[:n])]


def library_photo_cases() -> list[Case]:
    """Real photos that are certainly not skin, from an installed dependency (never copied)."""
    from sklearn.datasets import load_sample_images

    images = load_sample_images()
    return [Case("real non-skin photos (scikit-learn samples)", Path(name).name, encode(image, "JPEG", 90), "not_skin")
            for name, image in zip(images.filenames, images.images)]


def run(predictor, cases: list[Case]) -> list[Outcome]:
    results = predictor.predict_many([c.data for c in cases], names=[c.name for c in cases])
    return [Outcome(c, r.abstention.code if r.abstention else None, r.error, r.quality) for c, r in zip(cases, results)]


# ----------------------------------------------------------------------------- the skin crop


@dataclass
class CropOutcome:
    group: str
    kept: float  # share of the frame's area the crop keeps
    milliseconds: float  # computing the box on the decoded photo
    iou: float | None = None  # with the landmark face box
    covered: float | None = None  # share of the landmark face box inside the crop
    outside_face: float | None = None  # share of the crop outside the landmark face box
    neutral: float | None = None  # share of the crop in colourless greys and whites (backdrop, clothes)
    neutral_face_box: float | None = None  # the same share in the landmark face box itself


def _overlap(a: Box, b: Box) -> float:
    return max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))


def _area(box: Box) -> float:
    return (box[2] - box[0]) * (box[3] - box[1])


def _neutral_share(image, box: Box) -> float:
    pixels = np.asarray(image.resize((64, 64), box=box))
    return float((colour_planes(pixels).chroma < WHITE_CHROMA).mean())


def measure_crop(group: str, source: bytes | str | Path, input_size: int,
                 landmarks: list[list[float]] | None = None) -> CropOutcome:
    """The crop box as prepare_photo computes it (the same draft decode), in the stored photo's pixels."""
    from skinfindings.data.photo import load_photo_sized

    image, stored = load_photo_sized(source, draft_size=DRAFT_FACTOR * input_size)
    start = time.perf_counter()
    box = crop_box(image)
    milliseconds = 1000 * (time.perf_counter() - start)
    outcome = CropOutcome(group, _area(box) / (image.width * image.height), milliseconds)
    if landmarks is not None:
        scale = image.width / stored[0]
        face = tuple(v * scale for v in landmark_face_box(landmarks))
        inside = _overlap(box, face)
        outcome.iou = inside / (_area(box) + _area(face) - inside)
        outcome.covered, outcome.outside_face = inside / _area(face), 1 - inside / _area(box)
        outcome.neutral, outcome.neutral_face_box = _neutral_share(image, box), _neutral_share(image, face)
    return outcome


def crop_outcomes(faces: list[Face], face_crop_cases: list[Case], real: list[Case], input_size: int) -> list[CropOutcome]:
    outcomes = [measure_crop("face portraits, neutral (landmark face box known)" if f.landmarks else
                             "face portraits, smiling", f.path, input_size, f.landmarks) for f in faces]
    outcomes += [measure_crop(c.group, c.data, input_size) for c in face_crop_cases]
    return outcomes + [measure_crop(c.group, c.data, input_size) for c in real]


def _spread(values: list[float]) -> str:
    data = np.asarray(values)
    return f"{np.median(data):.2f} [{np.percentile(data, 5):.2f}, {data.min():.2f}]"


def _crop_rows(outcomes: list[CropOutcome]) -> list[str]:
    lines = ["| photos | n | frame area kept: median [5th pct, min] | whole frame kept | IoU with the landmark face box "
             "| landmark face box covered | crop outside the face box: median [95th pct] | grey/white in the crop "
             "(in the face box) | ms per box, median |",
             "|---|---:|---|---:|---|---|---|---|---:|"]
    groups: dict[str, list[CropOutcome]] = {}
    for o in outcomes:
        groups.setdefault(o.group, []).append(o)
    for group, items in groups.items():
        whole = sum(o.kept >= 0.999 for o in items)
        cells = ["—"] * 4
        if items[0].iou is not None:
            outside = np.asarray([o.outside_face for o in items])
            cells = [_spread([o.iou for o in items]), _spread([o.covered for o in items]),
                     f"{np.median(outside):.2f} [{np.percentile(outside, 95):.2f}]",
                     f"{np.median([o.neutral for o in items]):.2f} ({np.median([o.neutral_face_box for o in items]):.2f})"]
        lines.append(f"| {group} | {len(items)} | {_spread([o.kept for o in items])} | {whole} | " + " | ".join(cells)
                     + f" | {np.median([o.milliseconds for o in items]):.1f} |")
    return lines


def crop_section(outcomes: list[CropOutcome], input_size: int) -> list[str]:
    if not outcomes:
        return []
    settings = "\n".join(f"| {k} | {v:.3g} |" for k, v in vars(CROP_SETTINGS).items())
    return [
        "## The skin crop (model/skin_crop.py), measured",
        "",
        f"Before the gate and the model, `prepare_photo` crops each photo to its skin region (decoded as for a "
        f"{input_size} px input). On the neutral portraits the crop is compared with the box their 189 landmarks "
        "span (hairline, ears, chin), which the crop never sees. A crop that keeps the face with part of the neck "
        "and a margin has an IoU well below 1 by design; what matters is that the face is kept (covered) and that "
        "little backdrop is left (grey/white share, against the same share inside the landmark box itself). "
        "Close-ups must keep their whole frame.",
        "",
        *_crop_rows(outcomes),
        "",
        "| crop setting (`CropSettings`) | value |",
        "|---|---|",
        settings,
        "",
    ]


# ----------------------------------------------------------------------------- report


def _by_group(outcomes: list[Outcome]) -> dict[str, list[Outcome]]:
    groups: dict[str, list[Outcome]] = {}
    for o in outcomes:
        groups.setdefault(o.case.group, []).append(o)
    return groups


def _refused(items: list[Outcome]) -> str:
    n = sum(bool(o.reason or o.error) for o in items)
    return f"{n} ({n / len(items):.0%})"


def previous_refusals(report_path: Path | None, size: int) -> dict[str, str]:
    """Group -> "refused at ``size`` px" cell of an earlier report of this command (its per-group table)."""
    if report_path is None:
        return {}
    column, cells = None, {}
    for line in report_path.read_text().splitlines():
        row = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if row[0] == "group" and f"refused at {size} px" in row:
            column = row.index(f"refused at {size} px")
        elif column is not None and line.startswith("| ") and len(row) > column:
            cells[row[0]] = row[column]
        elif column is not None and not line.startswith("|"):
            break
    return cells


def _group_rows(outcomes: list[Outcome], size: int, other_sizes: dict[int, list[Outcome]],
                before: dict[str, str]) -> list[str]:
    others = {s: _by_group(o) for s, o in other_sizes.items()}
    extra_heads = "".join(f" refused at {s} px |" for s in others) + (f" refused at {size} px before |" if before else "")
    lines = [f"| group | n | refused at {size} px | refused for the expected reason | reasons given |{extra_heads}",
             "|---|---:|---:|---:|---|" + "---:|" * (len(others) + bool(before))]
    for group, items in _by_group(outcomes).items():
        refused = [o for o in items if o.reason or o.error]
        expected = items[0].case.expected
        right = "—" if expected is None else f"{sum(o.reason == expected for o in items)} ({expected})"
        reasons = Counter(o.reason or "unreadable" for o in refused)
        text = ", ".join(f"{k} {v}" for k, v in reasons.most_common()) or "—"
        extra = "".join(f" {_refused(groups[group])} |" for groups in others.values())
        extra += f" {before.get(group, 'not measured')} |" if before else ""
        lines.append(f"| {group} | {len(items)} | {_refused(items)} | {right} | {text} |{extra}")
    return lines


def _tone_rows(outcomes: list[Outcome], group: str, label: str = "Fitzpatrick type") -> list[str]:
    items = [o for o in outcomes if o.case.group == group]
    if not items:
        return []
    tones = sorted({o.case.tone for o in items}, key=lambda t: (t == "", t))
    cells = [f"{t or 'unknown'}: {sum(bool(o.reason) for o in items if o.case.tone == t)}/"
             f"{sum(o.case.tone == t for o in items)}" for t in tones]
    return [f"- {group}, refused per {label}: " + ", ".join(cells)]


FACE_GROUPS = ("face portraits", "selfie-like crops: face box", "selfie-like crops: one cheek")


def _faces_summary(outcomes: list[Outcome]) -> str:
    faces = [o for o in outcomes if o.case.group in FACE_GROUPS]
    assessed = sum(not (o.reason or o.error) for o in faces)
    return f"{assessed} of {len(faces)} face portraits and selfie-like crops assessed ({assessed / max(len(faces), 1):.1%})"


def _refusal_details(outcomes: list[Outcome], group: str) -> list[str]:
    refused = [o for o in outcomes if o.case.group == group and (o.reason or o.error)]
    if not refused:
        return [f"No {group} refused."]
    lines = [f"Refused {group}:", ""]
    for o in refused:
        stats = ", ".join(f"{k} {v:.3f}" for k, v in o.stats.items())
        lines.append(f"- {o.case.name}: {o.reason or o.error} ({stats})")
    return lines


def _stat_ranges(outcomes: list[Outcome]) -> list[str]:
    keys = list(next(o.stats for o in outcomes if o.stats))
    lines = ["| group | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    groups: dict[str, list[dict]] = {}
    for o in outcomes:
        if o.stats:
            groups.setdefault(o.case.group, []).append(o.stats)
    for group, stats in groups.items():
        cells = []
        for k in keys:
            values = np.array([s[k] for s in stats])
            cells.append(f"{np.median(values):.3g} [{values.min():.3g}, {values.max():.3g}]")
        lines.append(f"| {group} | " + " | ".join(cells) + " |")
    return lines


def _overall(outcomes: list[Outcome]) -> tuple[int, int, int, int]:
    good = [o for o in outcomes if o.case.expected is None]
    bad = [o for o in outcomes if o.case.expected is not None]
    return (sum(bool(o.reason or o.error) for o in bad), len(bad),
            sum(bool(o.reason or o.error) for o in good), len(good))


def _limits(outcomes: list[Outcome], default_real_set: bool) -> list[str]:
    real = [o for o in outcomes if o.case.group == "real skin photos"]
    refused = sum(bool(o.reason or o.error) for o in real)
    bound = (f"With {refused} refusals in {len(real)} real photos, the false-refusal rate on photos like these is "
             f"below about {3 / len(real):.1%} (95% upper bound, rule of three)." if real and refused == 0 else
             f"{refused} of {len(real)} real photos were refused." if real else "No real photos were measured.")
    if default_real_set and real:
        bound += (" The project's real set holds PAD-UFES-20 lesion close-ups, at most 1024 px, mostly Fitzpatrick "
                  "II-III: not post-procedure skin, and not full-size 12-MP phone photos, which shrink more on the "
                  "way to the model.")
    library = [o for o in outcomes if o.case.group.startswith("real non-skin")]
    passed = sum(not (o.reason or o.error) for o in library)
    return [
        f"- {bound}",
        "- The out-of-scope and bad photos are rendered by this project (data/nonskin.py). They test that each rule "
        "fires on the defect it is meant for; they cannot stand for the variety of real uploads.",
        "- The scope check reads colour and texture, not content, so skin-coloured scenes can pass it (see the fur "
        f"and wall rows). Of the {len(library)} real non-skin photos, {passed} passed the gate. A learned "
        "out-of-scope score on the model's features is the next step once a trained model exists; it should be "
        "measured with this same command before it replaces or joins these rules.",
        "- Compression is judged two ways: the 8x8 JPEG grid where it is still at least 3 px at the model's input, "
        "and, for a large photo whose blocks are averaged away, skin posterised into a handful of exact colours "
        "(region_palette_share) with no text in the frame. Moderate compression of a large photo is not flagged (the "
        "model no longer sees its blocks either). The grid measure assumes the whole frame: on a cropped portrait "
        "its period is wrong, and only the posterised palette can tell.",
        "- Faces: the portraits are studio photos (even light, plain grey backdrop, white shirt), not phone selfies; "
        "the selfie-like crops are cut from them with their landmarks. A selfie in front of a skin-coloured wall or "
        "wood keeps its whole frame (the crop sees skin colour all round) and is then judged on its skin region, "
        "which may take the wall in. Exposure and glare are still judged on the whole (cropped) frame, so a face "
        "against a blown-out window can be refused as overexposed.",
        "- Judging colour and text inside a large skin region (a face) is what lets portraits through; it also lets "
        "through skin-coloured scenes whose skin-coloured part is large (compare the food row with the previous "
        "report).",
        "- Overexposure and glare overlap: a large reflection can be reported as overexposure. Both are refusals.",
        "- What is not skin is said first: hues no skin has (off_hue: sky, greenery) and text (hard_edges) are judged "
        "before exposure and blur, and a too-bright image made of colourless greys (neutral_grey: paper, screens) is "
        "out of scope, not overexposed, so a sky is not called blurred nor a page overexposed. The colour and palette "
        "rules that a blur or heavy compression can mimic still come after those checks.",
        "- Blur is judged by how much detail survives a further blur. An out-of-focus photo loses detail in every "
        "direction and is caught far more often than a shaken one, which stays sharp across the streak (compare the "
        "defocused and shaken rows).",
    ]


def _before_note(args) -> list[str]:
    if args.before is None:
        return []
    return [f"The last column is the same command's report before the skin crop and the portrait rules "
            f"(`{args.before_label}`); groups it did not have are \"not measured\".", ""]


def report(outcomes: list[Outcome], checkpoint: str, input_size: int, args,
           other_sizes: dict[int, list[Outcome]], crops: list[CropOutcome]) -> str:
    limits = "\n".join(f"| {k} | {v} |" for k, v in vars(THRESHOLDS).items())
    reasons = "\n".join(f"| {a.code} | {a.message} | {a.tip} |" for a in REASONS.values())
    overall = [(input_size, _overall(outcomes))] + [(s, _overall(o)) for s, o in other_sizes.items()]
    faces = [_faces_summary(outcomes)] + [_faces_summary(o) for o in other_sizes.values()]
    summary = [f"- input {s} px: {c} of {nb} bad / out-of-scope images refused ({c / max(nb, 1):.0%}); "
               f"{f} of {ng} good skin photos and faces refused ({f / max(ng, 1):.1%}); {face}"
               for (s, (c, nb, f, ng)), face in zip(overall, faces)]
    sizes = ",".join(str(s) for s in other_sizes)
    parts = [
        "# Abstention gate: measured",
        "",
        f"Command: `{COMMAND}` (options used: `--n-synth {args.n_synth} --n-per-kind {args.n_per_kind}"
        f" --real {args.real} --faces {args.faces} --also-sizes {sizes}`), checkpoint `{checkpoint}` (input "
        f"{input_size} px). The gate reads the model-input-size array (after the skin crop), so it is also run with "
        "that array at the other sizes a checkpoint may use.",
        "",
        "Overall:",
        "",
        *summary,
        "",
        "## Per group",
        "",
        *_before_note(args),
        *_group_rows(outcomes, input_size, other_sizes, previous_refusals(args.before, input_size)),
        "",
        *_tone_rows(outcomes, "synthetic skin"),
        *_tone_rows(outcomes, "real skin photos"),
        *[line for group in FACE_GROUPS for line in _tone_rows(outcomes, group, "self-reported ethnicity")],
        "",
        *_refusal_details(outcomes, "real skin photos"),
        "",
        *_refusal_details(outcomes, "synthetic skin"),
        "",
        *[line for group in FACE_GROUPS for line in (*_refusal_details(outcomes, group), "")],
        *crop_section(crops, input_size),
        "## What these numbers do not show",
        "",
        *_limits(outcomes, args.real == DEFAULT_REAL),
        "",
        "## Statistics per group: median [min, max]",
        "",
        *_stat_ranges(outcomes),
        "",
        "## Thresholds (model/quality.py `GateThresholds`)",
        "",
        "| threshold | value |",
        "|---|---|",
        limits,
        "",
        "## Reasons, with what the patient reads (the order of the checks: model/quality.py `reason_code`)",
        "",
        "| code | message | retake tip |",
        "|---|---|---|",
        reasons,
        "",
    ]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m skinfindings.model.gate_eval", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="Markdown report to write")
    parser.add_argument("--real", type=Path, default=DEFAULT_REAL,
                        help="manifest of real skin photos (default: the real set beside the repo, run from the "
                             "repo root; skipped if absent)")
    parser.add_argument("--faces", type=Path, default=DEFAULT_FACES,
                        help="folder of face portraits with manifest.csv and landmarks.json (default: beside the "
                             "repo; skipped if absent)")
    parser.add_argument("--before", type=Path, default=None,
                        help="an earlier report of this command, to show its refusals beside today's")
    parser.add_argument("--before-label", default="", help="how the earlier report was made (shown in the report)")
    parser.add_argument("--n-synth", type=int, default=120, help="synthetic skin photos (about 20 per Fitzpatrick type)")
    parser.add_argument("--n-per-kind", type=int, default=30, help="images per out-of-scope / bad-photo kind and source")
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="checkpoint whose input size the gate sees")
    parser.add_argument("--also-sizes", default="128,192", help="other model input sizes to run the gate at (comma list)")
    args = parser.parse_args(argv)

    from skinfindings.model.predictor import Predictor

    # PyTorch, not ONNX: the exported graph has a fixed input size and --also-sizes changes it.
    predictor = Predictor(args.checkpoint, backend="torch")
    synth, synth_images = synth_cases(args.n_synth)
    real, real_images = real_cases(args.real) if args.real.is_file() else ([], [])
    if not real:
        print(f"note: no real manifest at {args.real}; real photos left out", file=sys.stderr)
    faces = read_faces(args.faces) if (args.faces / "manifest.csv").is_file() else []
    if not faces:
        print(f"note: no faces at {args.faces}; portraits left out", file=sys.stderr)
    face, face_images = face_cases(faces)
    cases = synth + real + face + out_of_scope_cases(args.n_per_kind)
    cases += bad_cases("from synthetic", synth_images, args.n_per_kind)
    if real_images:
        cases += bad_cases("from real", real_images, args.n_per_kind)
        cases += full_size_jpeg_cases("from real", real_images, args.n_per_kind)
    if face_images:
        cases += full_size_jpeg_cases("from faces", face_images, args.n_per_kind)
    cases += library_photo_cases()
    size = predictor.input_size
    crops = crop_outcomes(faces, [c for c in face if c.group != "face portraits"], real, size)
    outcomes = run(predictor, cases)
    other_sizes = {}
    for other in (int(s) for s in args.also_sizes.split(",") if s.strip()):
        predictor.meta.input_size = other  # only the array the gate sees changes; predictions are not used here
        other_sizes[other] = run(predictor, cases)
    predictor.meta.input_size = size
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report(outcomes, Path(args.checkpoint).name, size, args, other_sizes, crops))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
