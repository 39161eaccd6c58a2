"""``python -m skinfindings.data.realism --real /work/shared/data/real/manifest.csv --out docs/realism.md``

How close do rendered images come to real smartphone skin photos? Simple colour and texture statistics of each
image (at 256 px, through the project's photo loader) are compared between the real set and freshly rendered
synthetic images: medians, the share of real images inside the synthetic 5-95 % range, a two-sample
Kolmogorov-Smirnov distance per statistic, and how well a logistic regression on all statistics tells real from
synthetic (grouped cross-validated AUROC; 0.5 = indistinguishable by these statistics, 1.0 = fully separable).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from skinfindings.data.manifest import read_manifest
from skinfindings.data.photo import load_photo
from skinfindings.data.synth import SynthConfig, image_seed, render_sample
from skinfindings.data.synth_skin import linear_rgb_to_lab

SIZE = 256
LIGHT_TONES = ("I", "II", "III")
STATISTICS = {
    "L_mean": "mean lightness L*",
    "a_mean": "mean redness a*",
    "b_mean": "mean yellowness b*",
    "chroma": "mean chroma C*",
    "L_spread": "std of L* (overall contrast)",
    "a_spread": "std of a* (redness variation)",
    "fine_texture": "std of L* minus its 1.5 px blur (pores, noise, fine lines)",
    "mid_texture": "std of L* band 2-8 px (spots, furrows)",
    "edges": "mean L* gradient magnitude",
    "sharpness": "variance of the Laplacian of L*",
}


@dataclass
class Comparison:
    real: np.ndarray  # (n_real, n_stats)
    synthetic: np.ndarray  # (n_synth, n_stats)
    synthetic_tones: list[str]
    auroc: float  # against all synthetic images
    auroc_light: float  # against synthetic types I-III only, the tones of the real set
    contrast: dict[str, dict[str, float]]  # finding -> tone -> median Delta E to its surroundings

    @property
    def light(self) -> np.ndarray:
        return np.isin(self.synthetic_tones, LIGHT_TONES)


def srgb_to_lab(pixels: np.ndarray) -> np.ndarray:
    x = pixels.astype(np.float32) / 255.0
    linear = np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)
    return linear_rgb_to_lab(linear).astype(np.float32)


def image_statistics(pixels: np.ndarray) -> np.ndarray:
    """The STATISTICS of one HxWx3 uint8 image, resized to SIZE."""
    if pixels.shape[:2] != (SIZE, SIZE):
        pixels = cv2.resize(pixels, (SIZE, SIZE), interpolation=cv2.INTER_AREA)
    lab = srgb_to_lab(pixels)
    lightness = lab[..., 0]
    fine = lightness - cv2.GaussianBlur(lightness, (0, 0), 1.5)
    mid = cv2.GaussianBlur(lightness, (0, 0), 2) - cv2.GaussianBlur(lightness, (0, 0), 8)
    gx, gy = cv2.Sobel(lightness, cv2.CV_32F, 1, 0), cv2.Sobel(lightness, cv2.CV_32F, 0, 1)
    return np.array([
        lightness.mean(), lab[..., 1].mean(), lab[..., 2].mean(), np.hypot(lab[..., 1], lab[..., 2]).mean(),
        lightness.std(), lab[..., 1].std(), fine.std(), mid.std(), np.hypot(gx, gy).mean() / 8,
        cv2.Laplacian(lightness, cv2.CV_32F).var(),
    ])


def real_statistics(manifest_path: Path) -> np.ndarray:
    manifest = read_manifest(manifest_path)
    rows = []
    for record in manifest.records:
        image = load_photo(manifest.resolve(record), draft_size=SIZE * 2)
        side = min(image.size)  # centre square, as the renderer's images are square
        left, top = (image.width - side) // 2, (image.height - side) // 2
        rows.append(image_statistics(np.asarray(image.crop((left, top, left + side, top + side)))))
    return np.array(rows)


def synthetic_statistics(n: int, seed: int) -> tuple[np.ndarray, list[str]]:
    samples = [render_sample(image_seed(seed, i), SynthConfig(size=SIZE)) for i in range(n)]
    return np.array([image_statistics(s.image) for s in samples]), [s.fitzpatrick for s in samples]


def separability(real: np.ndarray, synthetic: np.ndarray) -> float:
    """Cross-validated AUROC of a logistic regression telling real from synthetic by the statistics."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skinfindings.training.metrics import auroc

    x = np.vstack([real, synthetic])
    y = np.r_[np.ones(len(real)), np.zeros(len(synthetic))]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, class_weight="balanced"))
    scores = cross_val_predict(model, x, y, cv=StratifiedKFold(5, shuffle=True, random_state=0),
                               method="predict_proba")[:, 1]
    return float(auroc(y, scores))


def compare(real_manifest: Path, n: int, seed: int) -> Comparison:
    real = real_statistics(real_manifest)
    synthetic, tones = synthetic_statistics(n, seed)
    light = np.isin(tones, LIGHT_TONES)
    return Comparison(real, synthetic, tones, separability(real, synthetic), separability(real, synthetic[light]),
                      finding_contrast())


def finding_contrast(per_cell: int = 12, seed: int = 77) -> dict[str, dict[str, float]]:
    """Median CIE76 Delta E between a finding's mask and a 6 px ring around it, per finding and tone.

    Measured on the final 8-bit images (after light and camera), on images forced to show one finding: a check that
    "faint but visible" holds on every tone. Whole-field erythema has no ring and is left out.
    """
    from skinfindings.data.manifest import FITZPATRICK_TYPES
    from skinfindings.findings import FINDINGS

    table: dict[str, dict[str, float]] = {}
    ring_kernel = np.ones((13, 13), np.uint8)
    for finding in FINDINGS:
        table[finding] = {}
        for tone in FITZPATRICK_TYPES:
            deltas = []
            for i in range(per_cell):
                sample = render_sample(image_seed(seed, i), SynthConfig(size=SIZE, fitzpatrick=tone,
                                                                          findings=(finding,)))
                mask = sample.masks[FINDINGS.index(finding)]
                ring = cv2.dilate(mask.astype(np.uint8), ring_kernel).astype(bool) & ~mask
                if mask.any() and ring.sum() >= 20:
                    lab = srgb_to_lab(sample.image)
                    deltas.append(float(np.linalg.norm(lab[mask].mean(0) - lab[ring].mean(0))))
            table[finding][tone] = float(np.median(deltas)) if deltas else float("nan")
    return table


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import ks_2samp

    return float(ks_2samp(a, b).statistic)


def contrast_lines(table: dict[str, dict[str, float]]) -> list[str]:
    tones = list(next(iter(table.values())))
    lines = ["## How visible the findings are, per tone", "",
             "Median CIE76 ΔE between the mean colour inside a finding's mask and a 6 px ring around it, on final "
             "256 px images forced to show that one finding (12 per cell; whole-field erythema has no ring and is "
             "left out; for pustules the ring is mostly their own red halo). About 2.3 is a commonly used "
             "just-noticeable difference. The faintest strengths are set per tone in the renderer "
             "(see data/DATASET_CARD.md).", "",
             "| finding | " + " | ".join(tones) + " |", "|---|" + "---|" * len(tones)]
    for finding, row in table.items():
        lines.append(f"| {finding} | " + " | ".join(f"{row[t]:.1f}" for t in tones) + " |")
    return lines + [""]


def report(result: Comparison, command: str) -> str:
    light = result.light
    lines = [
        "# Realism of the synthetic images: rendered vs real skin photos",
        "",
        f"Made by `{command}` (numbers below come from that command; rerun it after changing the renderer).",
        "",
        f"Real: {len(result.real)} smartphone photos from PAD-UFES-20 (Pacheco et al., Data in Brief 2020, CC BY 4.0, "
        "doi:10.17632/zr7vgbcyr2.1), centre square at 256 px. They show lesions (BCC, ACK, nevi, ...) on mostly "
        "type II-III skin, not post-procedure skin, so they judge the look of skin and photos, not of the findings.",
        f"Synthetic: {len(result.synthetic)} freshly rendered images at 256 px, all six tones "
        f"({int(light.sum())} of them type I-III).",
        "",
        f"**Real-vs-synthetic separability** (logistic regression on all ten statistics, 5-fold cross-validated "
        f"AUROC): **{result.auroc:.2f}** against all synthetic images, **{result.auroc_light:.2f}** against the "
        "type I-III ones (0.5 = these statistics cannot tell them apart; 1.0 = fully separable).",
        "",
        "| statistic | real median | synthetic median | synthetic I-III median | real inside synthetic 5-95 % "
        "| KS distance |",
        "|---|---|---|---|---|---|",
    ]
    for j, (key, meaning) in enumerate(STATISTICS.items()):
        real, synth = result.real[:, j], result.synthetic[:, j]
        low, high = np.percentile(synth, [5, 95])
        inside = float(((real >= low) & (real <= high)).mean())
        lines.append(f"| {key}: {meaning} | {np.median(real):.2f} | {np.median(synth):.2f} | "
                     f"{np.median(synth[light]):.2f} | {inside:.0%} | {ks_distance(real, synth):.2f} |")
    lines += [""] + contrast_lines(result.contrast) + [MISSES]
    return "\n".join(lines) + "\n"


MISSES = """## What the renderer still misses (judged by eye on contact sheets next to the real photos)

- **Anatomy and context.** Real photos show body sites (nose, ear, eyelid, lips, scalp, hand) with folds, edges and
  depth; the renderer makes a flat-to-gently-curved patch with an occasional straight-ish border of hair, clothing
  or background.
- **Real skin texture.** Pores, furrows and fine wrinkles are procedural noise; real skin's rhomboid furrow pattern,
  follicle openings with vellus hairs, scale, and sun damage (solar lentigines, actinic texture) are richer.
- **Findings are idealised.** Domes are hemispheres, pustule halos are round, crusts are noise-shaped blobs; real
  crusts have layered, glossy, serous surfaces, real milia sit under the skin rather than on it, and real
  post-procedure redness has swelling and sharper treatment borders (grid lines of the handpiece).
- **Lighting and camera.** One directional light plus fill; no flash hot spot, no mixed indoor lighting, no phone
  processing (sharpening halos, HDR tone mapping, beauty filters), no focus breathing.
- **Colour casts are milder than in real phone photos** (see the a*, b* and chroma rows: real photos range from
  nearly grey to strongly orange). This is partly on purpose: stronger casts and saturation changes would make
  whole-field redness hard to tell from naturally pink skin. Training-time colour augmentation should stay modest
  for the same reason.
- **Overall contrast is lower** (L* spread, edges): real photos hold lesions, anatomy and shadows with more
  structure than a patch of skin.
- **Tones V-VI.** Skin colour comes from the ITA model and a Beer-Lambert absorber model; how findings look on dark
  skin (violaceous rather than red erythema, grey-brown rather than brown pigment) is approximated, not measured,
  and the real set has almost no type V-VI photos to check against.
- **Pen marks, dressings, ointment, make-up and jewellery** seen in real photos are not rendered.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    parser.add_argument("--real", type=Path, default=Path("/work/shared/data/real/manifest.csv"))
    parser.add_argument("--n", type=int, default=300, help="synthetic images to render")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("docs/realism.md"))
    args = parser.parse_args(argv)
    result = compare(args.real, args.n, args.seed)
    command = f"python -m skinfindings.data.realism --real {args.real} --n {args.n} --seed {args.seed} --out {args.out}"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report(result, command), encoding="utf-8")
    print(f"wrote {args.out}; real-vs-synthetic AUROC {result.auroc:.2f} (types I-III only: {result.auroc_light:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
