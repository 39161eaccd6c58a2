"""python -m skinfindings.model.gate_eval --out docs/gate.md [--real MANIFEST] [--n-synth 120] [--n-per-kind 30]

Measures the abstention gate (model/quality.py) through the Predictor, the path every
photo takes:

* good photos that must NOT be refused: synthetic skin (data/synth.py, all six
  Fitzpatrick types) and the real skin photos of a manifest (every refusal there is
  a false refusal);
* photos that must be refused: generated out-of-scope images and generated bad
  photos (data/nonskin.py), the bad ones made from synthetic and from real skin;
* two real non-skin photos that ship with scikit-learn (a building, a flower).

Writes a Markdown report; nothing from the real set is written anywhere.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from skinfindings.data.manifest import read_manifest
from skinfindings.data.nonskin import BAD_PHOTOS, EXPECTED, OUT_OF_SCOPE, bad_photo_file, encode, out_of_scope_file
from skinfindings.data.photo import load_photo
from skinfindings.model.checkpoint import DEFAULT_CHECKPOINT
from skinfindings.model.quality import REASONS, THRESHOLDS

DEFAULT_REAL = Path("../shared/data/real/manifest.csv")  # the project's real set, outside the repo
COMMAND = "python -m skinfindings.model.gate_eval --out docs/gate.md"


@dataclass
class Case:
    group: str  # the table row it is counted in
    name: str
    data: bytes | str  # file bytes, or a path
    expected: str | None  # reason it should trigger; None = must not be refused
    tone: str = ""  # Fitzpatrick type where known


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


def out_of_scope_cases(n: int) -> list[Case]:
    return [Case(f"out of scope: {kind}", f"{kind}-{seed}", out_of_scope_file(kind, seed), EXPECTED[kind])
            for kind in OUT_OF_SCOPE for seed in range(n)]


def bad_cases(source: str, images: list[np.ndarray], n: int) -> list[Case]:
    picked = images[:n]
    return [Case(f"bad photo ({source}): {kind}", f"{kind}-{i}", bad_photo_file(image, kind, i), EXPECTED[kind])
            for kind in BAD_PHOTOS for i, image in enumerate(picked)]


def library_photo_cases() -> list[Case]:
    """Real photos that are certainly not skin, from an installed dependency (never copied)."""
    from sklearn.datasets import load_sample_images

    images = load_sample_images()
    return [Case("real non-skin photos (scikit-learn samples)", Path(name).name, encode(image, "JPEG", 90), "not_skin")
            for name, image in zip(images.filenames, images.images)]


def run(predictor, cases: list[Case]) -> list[Outcome]:
    results = predictor.predict_many([c.data for c in cases], names=[c.name for c in cases])
    return [Outcome(c, r.abstention.code if r.abstention else None, r.error, r.quality) for c, r in zip(cases, results)]


# ----------------------------------------------------------------------------- report


def _by_group(outcomes: list[Outcome]) -> dict[str, list[Outcome]]:
    groups: dict[str, list[Outcome]] = {}
    for o in outcomes:
        groups.setdefault(o.case.group, []).append(o)
    return groups


def _refused(items: list[Outcome]) -> str:
    n = sum(bool(o.reason or o.error) for o in items)
    return f"{n} ({n / len(items):.0%})"


def _group_rows(outcomes: list[Outcome], size: int, other_sizes: dict[int, list[Outcome]]) -> list[str]:
    others = {s: _by_group(o) for s, o in other_sizes.items()}
    extra_heads = "".join(f" refused at {s} px |" for s in others)
    lines = [f"| group | n | refused at {size} px | refused for the expected reason | reasons given |{extra_heads}",
             "|---|---:|---:|---:|---|" + "---:|" * len(others)]
    for group, items in _by_group(outcomes).items():
        refused = [o for o in items if o.reason or o.error]
        expected = items[0].case.expected
        right = "—" if expected is None else f"{sum(o.reason == expected for o in items)} ({expected})"
        reasons = Counter(o.reason or "unreadable" for o in refused)
        text = ", ".join(f"{k} {v}" for k, v in reasons.most_common()) or "—"
        extra = "".join(f" {_refused(groups[group])} |" for groups in others.values())
        lines.append(f"| {group} | {len(items)} | {_refused(items)} | {right} | {text} |{extra}")
    return lines


def _tone_rows(outcomes: list[Outcome], group: str) -> list[str]:
    items = [o for o in outcomes if o.case.group == group]
    tones = sorted({o.case.tone for o in items}, key=lambda t: (t == "", t))
    cells = [f"{t or 'unknown'}: {sum(bool(o.reason) for o in items if o.case.tone == t)}/"
             f"{sum(o.case.tone == t for o in items)}" for t in tones]
    return [f"- {group}, refused per Fitzpatrick type: " + ", ".join(cells)]


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
        "- Compression is judged where the 8x8 JPEG grid is still at least 3 px at the model's input; a large photo "
        "that was compressed hard is not flagged once its blocks are averaged away (the model no longer sees them "
        "either), and heavy compression then shows up only as blur.",
        "- Overexposure and glare overlap: a large reflection can be reported as overexposure. Both are refusals.",
        "- What is not skin is said first: hues no skin has (off_hue: sky, greenery) and text (hard_edges) are judged "
        "before exposure and blur, and a too-bright image made of colourless greys (neutral_grey: paper, screens) is "
        "out of scope, not overexposed, so a sky is not called blurred nor a page overexposed. The colour and palette "
        "rules that a blur or heavy compression can mimic still come after those checks.",
        "- Blur is judged by how much detail survives a further blur. An out-of-focus photo loses detail in every "
        "direction and is caught far more often than a shaken one, which stays sharp across the streak (compare the "
        "defocused and shaken rows).",
    ]


def report(outcomes: list[Outcome], checkpoint: str, input_size: int, args,
           other_sizes: dict[int, list[Outcome]]) -> str:
    limits = "\n".join(f"| {k} | {v} |" for k, v in vars(THRESHOLDS).items())
    reasons = "\n".join(f"| {a.code} | {a.message} | {a.tip} |" for a in REASONS.values())
    overall = [(input_size, _overall(outcomes))] + [(s, _overall(o)) for s, o in other_sizes.items()]
    summary = [f"- input {s} px: {c} of {nb} generated bad / out-of-scope images refused ({c / max(nb, 1):.0%}); "
               f"{f} of {ng} good skin photos refused ({f / max(ng, 1):.1%})" for s, (c, nb, f, ng) in overall]
    sizes = ",".join(str(s) for s in other_sizes)
    parts = [
        "# Abstention gate: measured",
        "",
        f"Command: `{COMMAND}` (options used: `--n-synth {args.n_synth} --n-per-kind {args.n_per_kind}"
        f" --real {args.real} --also-sizes {sizes}`), checkpoint `{checkpoint}` (input {input_size} px). The gate "
        "reads the model-input-size array, so it is also run with that array at the other sizes a checkpoint may use.",
        "",
        "Overall:",
        "",
        *summary,
        "",
        "## Per group",
        "",
        *_group_rows(outcomes, input_size, other_sizes),
        "",
        *_tone_rows(outcomes, "synthetic skin"),
        *_tone_rows(outcomes, "real skin photos"),
        "",
        *_refusal_details(outcomes, "real skin photos"),
        "",
        *_refusal_details(outcomes, "synthetic skin"),
        "",
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
    cases = synth + real + out_of_scope_cases(args.n_per_kind) + bad_cases("from synthetic", synth_images, args.n_per_kind)
    if real_images:
        cases += bad_cases("from real", real_images, args.n_per_kind)
    cases += library_photo_cases()
    size = predictor.input_size
    outcomes = run(predictor, cases)
    other_sizes = {}
    for other in (int(s) for s in args.also_sizes.split(",") if s.strip()):
        predictor.meta.input_size = other  # only the array the gate sees changes; predictions are not used here
        other_sizes[other] = run(predictor, cases)
    predictor.meta.input_size = size
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report(outcomes, Path(args.checkpoint).name, size, args, other_sizes))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
