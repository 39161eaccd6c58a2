"""The linear probe: a frozen ImageNet backbone, pooled features, one logistic regression per finding.

    features = PooledFeatures("efficientnet_lite0", 224).of(paths, keys)    # cached on disk, (n, views, 2F)
    probe = fit_probe(features.train_view(rows), labels[rows], c=0.003)
    logits = probe.logits(features.scoring_view(rows2))

It is the baseline every trained recipe must beat (issue: a probe on the shipped model's own backbone beat it by
0.15 AUROC), and a model in its own right: a logistic regression on globally pooled features *is* the network's
final linear layer, so ``fold_into_head`` writes the probe (and its calibration) into the classifier of the
architecture, and the Predictor runs it like any checkpoint.

Features: the backbone's last feature map (after its 1x1 head convolution, as the classifier sees it) pooled two
ways, average and maximum, for the photo as the Predictor prepares it (``prepare_photo``) and its mirror image.
Training uses both views (a free augmentation); scoring uses the unmirrored one, as the Predictor does.
``pooling="avg"`` reads only the average half, ``"avgmax"`` both (timm's ``catavgmax``: a few-pixel finding such
as a milium moves a feature's maximum far more than its average). An architecture named ``..._blockN`` also reads
the average and maximum of block N's output (``BlockFeatures``, a finer map; model/registry.py ``FinerPooling``),
and one ending ``_colour`` the input's CIELAB colour statistics too (``ColourFeatures``, model/colour_stats.py).

The cache lives in ``runs/features/<arch>-<size>/<key>.npy``, where ``<key>`` hashes the prepared pixels
themselves: a change in how photos are decoded or cropped never reuses stale features, and a refactor that leaves
the pixels alone costs only the (fast) preparation again.
"""

from __future__ import annotations

import hashlib
import io
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from skinfindings.findings import FINDINGS
from skinfindings.model.colour_stats import colour_statistics
from skinfindings.model.registry import architecture, build_model
from skinfindings.model.transforms import prepare_photo, to_tensor

POOLINGS = ("avg", "avgmax")


def probe_layout(arch: str) -> tuple[str, str, int | None, bool]:
    """What a probe architecture's classifier reads: its backbone, the last map's pooling, the earlier block
    whose average and maximum it also reads, if any, and whether it reads the input's colour statistics
    (efficientnet_lite0_avgmax_block4_colour -> lite0, avgmax, 4, True)."""
    colour = arch.endswith("_colour")
    arch, _, block = arch.removesuffix("_colour").partition("_block")
    pooling = "avgmax" if arch.endswith("_avgmax") else "avg"
    return arch.removesuffix("_avgmax"), pooling, int(block) if block else None, colour


def base_arch(arch: str) -> str:
    """The backbone's registry name without pooling, block or colour suffixes (efficientnet_lite1_avgmax_block4 ->
    efficientnet_lite1)."""
    return probe_layout(arch)[0]


def arch_for(backbone: str, pooling: str) -> str:
    """The registry name of a backbone with this pooling in front of its classifier."""
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, not {pooling!r}")
    return backbone if pooling == "avg" else f"{backbone}_avgmax"


class _CachedFeatures:
    """What a frozen pretrained backbone makes of each photo and its mirror image, cached per prepared pixels."""

    folder_suffix = ""

    def __init__(self, backbone: str, input_size: int, cache_root: str | Path = "runs/features", batch_size: int = 16):
        spec = architecture(backbone)
        if spec.pretrained is None:
            raise ValueError(f"{backbone} has no pretrained weights to probe")
        self.backbone, self.input_size, self.batch_size = backbone, input_size, batch_size
        self.model = build_model(backbone, len(FINDINGS))
        self.origin = spec.pretrained(self.model)
        self.model.eval()
        self.mean, self.std = spec.mean, spec.std
        self.cache = Path(cache_root) / f"{backbone}-{input_size}{self.folder_suffix}"

    def _from_maps(self, maps: torch.Tensor) -> torch.Tensor:
        """What is kept of a batch of last feature maps (n, F, h, w), per photo."""
        raise NotImplementedError

    def _maps(self, batch: torch.Tensor) -> torch.Tensor:
        """The feature maps this cache keeps something of: the backbone's last, by default."""
        return self.model.forward_features(batch)

    @torch.no_grad()
    def _compute(self, photos: list[np.ndarray]) -> np.ndarray:
        tensors = torch.stack([to_tensor(pixels, self.mean, self.std) for pixels in photos])
        views = [self._from_maps(self._maps(batch)) for batch in (tensors, torch.flip(tensors, dims=[3]))]
        return torch.stack(views, dim=1).numpy()  # (n, 2 views, ...)

    def of(self, photos: list[str] | list[bytes] | list[np.ndarray], progress: bool = True) -> np.ndarray:
        """Features for each photo as ``prepare_photo`` gives it, computing only what the cache lacks. ``photos``:
        paths or encoded files, or the photos already prepared at this input size (``prepared``: several caches,
        one preparation)."""
        self.cache.mkdir(parents=True, exist_ok=True)
        out: list[np.ndarray | None] = [None] * len(photos)
        pending: list[tuple[int, np.ndarray, Path]] = []
        with tqdm(total=len(photos), desc=f"{self.backbone} {self.input_size}px features", disable=not progress) as bar:
            for i, photo in enumerate(photos):
                pixels = photo if isinstance(photo, np.ndarray) else prepare_photo(photo, self.input_size)[0]
                file = self.cache / f"{hashlib.sha256(pixels.tobytes()).hexdigest()[:32]}.npy"
                if file.is_file():
                    out[i] = np.load(file)
                else:
                    pending.append((i, pixels, file))
                if len(pending) == self.batch_size or (pending and i == len(photos) - 1):
                    for (j, _, target), features in zip(pending, self._compute([p for _, p, _ in pending])):
                        np.save(target, features)
                        out[j] = features
                    pending = []
                bar.update(1)
        return np.stack(out)


class PooledFeatures(_CachedFeatures):
    """Average- and max-pooled last feature maps, (n, 2 views, 2F) float32."""

    def _from_maps(self, maps: torch.Tensor) -> torch.Tensor:
        return torch.cat([maps.mean(dim=(2, 3)), maps.amax(dim=(2, 3))], dim=1).float()


class BlockFeatures(PooledFeatures):
    """Average- and max-pooled output of one earlier block (timm's ``blocks[block]``), (n, 2 views, 2C): a map of
    finer stride than the last (Lite0 at 224 px: block 2 is 28 x 28, block 4 is 14 x 14, the last 7 x 7), where a
    finding of a few pixels is a larger share of one position. The same forward pass computes it in the Predictor."""

    def __init__(self, backbone: str, input_size: int, block: int, **kwargs):
        self.folder_suffix = f"-block{block}"
        super().__init__(backbone, input_size, **kwargs)
        stages = architecture(backbone).stages(self.model)  # the stem, then each block
        self.trunk = torch.nn.Sequential(*stages[: block + 2])

    def _maps(self, batch: torch.Tensor) -> torch.Tensor:
        return self.trunk(batch)


class ColourFeatures(_CachedFeatures):
    """The input's CIELAB colour statistics (model/colour_stats.py), (n, 2 views, 12): the same for both views; cached
    like the rest, so that they pass through the same preparation of each photo."""

    folder_suffix = "-colour"

    def _maps(self, batch: torch.Tensor) -> torch.Tensor:
        return batch  # the statistics read the normalised input itself, not a feature map

    def _from_maps(self, maps: torch.Tensor) -> torch.Tensor:
        return colour_statistics(maps, self.mean, self.std)


class FeatureMaps(_CachedFeatures):
    """The last feature maps themselves, (n, 2 views, F, h, w) in float16 (half the disk; the maps are the
    ReLU6 outputs of a batch norm, so half precision loses nothing a probe could use)."""

    folder_suffix = "-maps"

    def _from_maps(self, maps: torch.Tensor) -> torch.Tensor:
        return maps.half()


def select(features: np.ndarray, pooling: str) -> np.ndarray:
    """The pooled halves a pooling reads: (n, views, F) for "avg", (n, views, 2F) for "avgmax"."""
    half = features.shape[-1] // 2
    return features[..., :half] if pooling == "avg" else features


# The JPEG quality a training photo's recompressed copy is saved at is drawn from this range (docs/ablation.md,
# round 8: a photo forwarded through a messaging app or e-mail may reach the clinic re-saved at a lower quality).
RECOMPRESSED_QUALITY = (30, 90)


def recompressed(photo: str, quality: int | tuple[int, int] = RECOMPRESSED_QUALITY) -> bytes:
    """The photo decoded as the app decodes it and re-saved as a JPEG, at ``quality`` or at one drawn from that
    range by the file's name (the same copy every run): what a messaging app or an e-mail client makes of a phone
    photo before it reaches the clinic."""
    from skinfindings.data.photo import load_photo

    if isinstance(quality, (tuple, list)):
        rng = np.random.default_rng(zlib.crc32(Path(photo).name.encode()))
        quality = int(rng.integers(quality[0], quality[1] + 1))
    buffer = io.BytesIO()
    load_photo(photo).convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def probe_features(arch: str, input_size: int, photos: list[str] | list[bytes]) -> tuple[np.ndarray, dict]:
    """(n, 2 views, width) features in the order the architecture's classifier reads them, and the weights'
    provenance: the last map's pooled features, then the earlier block's if the architecture reads one, then the
    colour statistics if it reads them."""
    backbone, pooling, block, colour = probe_layout(arch)
    if block is not None or colour:  # several caches: decode and prepare each photo once for all of them
        photos = prepared(photos, input_size)
    last = PooledFeatures(backbone, input_size)
    parts = [select(last.of(photos), pooling)]
    if block is not None:
        parts.append(BlockFeatures(backbone, input_size, block).of(photos))
    if colour:
        parts.append(ColourFeatures(backbone, input_size).of(photos))
    return np.concatenate(parts, axis=2), last.origin


def prepared(photos: list[str] | list[bytes], input_size: int, progress: bool = True) -> list[np.ndarray]:
    """Each photo (a path or an encoded file) as ``prepare_photo`` gives it to the model (224 px: 150 kB each)."""
    bar = tqdm(photos, desc=f"{input_size}px photos", disable=not progress)
    return [prepare_photo(photo, input_size)[0] for photo in bar]


@dataclass
class Probe:
    """Standardisation + one logistic regression per finding, as plain arrays (what the head needs)."""

    mean: np.ndarray  # (F,)
    scale: np.ndarray  # (F,)
    coef: np.ndarray  # (findings, F)
    intercept: np.ndarray  # (findings,)

    def logits(self, features: np.ndarray) -> np.ndarray:
        return ((features - self.mean) / self.scale) @ self.coef.T + self.intercept


def fit_probe(features: np.ndarray, labels: np.ndarray, weights: np.ndarray, c: float | np.ndarray,
              view_weights: np.ndarray | None = None) -> Probe:
    """``features`` (n, views, F): every view trains with its photo's labels and weight (times its
    ``view_weights`` entry, if given: one per view, or one per photo and view; views of weight 0 are left out);
    NaN labels are left out of that finding's fit. ``c``: one strength for every finding,
    or one per finding. Balanced classes (the findings are rare); calibration comes after, on held-out
    rows."""
    from sklearn.linear_model import LogisticRegression

    n, views, width = features.shape
    x = features.reshape(n * views, width)
    y_all, w_all = np.repeat(labels, views, axis=0), np.repeat(weights, views)
    if view_weights is not None:
        w_all = w_all * (np.tile(view_weights, n) if view_weights.ndim == 1 else view_weights.reshape(n * views))
    # A view at weight 0 (a copy the recipe leaves out) is dropped, not kept at weight 0: it would still move the
    # standardisation, the balanced class weights (counted on rows) and the weights' mean (docs/ablation.md, round 11).
    trains = w_all > 0
    x, y_all, w_all = x[trains], y_all[trains], w_all[trains]
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    x = (x - mean) / scale
    coef, intercept = np.zeros((len(FINDINGS), width)), np.zeros(len(FINDINGS))
    strengths = np.broadcast_to(np.asarray(c, float), (len(FINDINGS),))
    for i in range(len(FINDINGS)):
        known = ~np.isnan(y_all[:, i])
        y = y_all[known, i].astype(int)
        if y.size == 0 or y.min() == y.max():  # nothing to separate: a constant at the observed rate
            rate = float(np.clip(y.mean() if y.size else 0.5, 1e-3, 1 - 1e-3))
            intercept[i] = np.log(rate / (1 - rate))
            continue
        fit = LogisticRegression(C=strengths[i], class_weight="balanced", max_iter=3000)
        fit.fit(x[known], y, sample_weight=w_all[known] / w_all[known].mean())
        coef[i], intercept[i] = fit.coef_[0], fit.intercept_[0]
    return Probe(mean, scale, coef, intercept)


@torch.no_grad()
def fold_into_head(model: torch.nn.Module, probe: Probe, slope: np.ndarray, offset: np.ndarray) -> None:
    """Write the probe and its per-finding logistic recalibration (sigmoid(slope * logit + offset)) into the
    model's final linear layer, so the network's raw output is the calibrated logit."""
    weight = slope[:, None] * probe.coef / probe.scale[None, :]
    bias = slope * (probe.intercept - (probe.coef * (probe.mean / probe.scale)[None, :]).sum(axis=1)) + offset
    head = model.get_classifier()
    if tuple(head.weight.shape) != weight.shape:
        raise ValueError(f"probe of width {weight.shape[1]} does not fit the head {tuple(head.weight.shape)}")
    head.weight.copy_(torch.from_numpy(weight).float())
    head.bias.copy_(torch.from_numpy(bias).float())
