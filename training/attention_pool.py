"""Attention pooling over the frozen backbone's last feature map: a probe that may look where a finding is.

The linear probe sees each feature map only through its average and maximum over the photo. A milium or a
pustule covers a few of the 7 x 7 positions a 224-px photo leaves, so its evidence is diluted by the average and
a single position decides the maximum. Attention pooling lets each finding learn which positions to read: per
finding k, at each position i of the standardised map x_i,

    attention  a_ik = softmax_i(u_k . x_i)        score  s_ik = v_k . x_i + b_k        logit_k = sum_i a_ik s_ik

With u = 0 the attention is uniform and this is the average-pooling linear probe, which is where training starts.
The L2 penalty matches the probe's C (sklearn's C * sum(loss) + |w|^2 / 2, divided through by the number of
samples), classes are balanced as the probe's are, and both views (photo and mirror image) train. Fitted on
cached feature maps (training/probe.py ``FeatureMaps``) by full-batch L-BFGS: deterministic, no learning rate.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class AttentionPool(nn.Module):
    """Per-finding attention over the positions of a (n, F, h, w) feature map; returns (n, findings) logits."""

    def __init__(self, width: int, findings: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(width))
        self.register_buffer("scale", torch.ones(width))
        self.attend = nn.Parameter(torch.zeros(findings, width))  # u: uniform attention at the start
        self.score = nn.Parameter(torch.zeros(findings, width))  # v
        self.bias = nn.Parameter(torch.zeros(findings))  # b

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        x = (maps.flatten(2).transpose(1, 2) - self.mean) / self.scale  # (n, positions, F)
        weights = torch.softmax(x @ self.attend.T, dim=1)  # (n, positions, findings)
        return (weights * (x @ self.score.T + self.bias)).sum(dim=1)


def _balanced_weights(labels: np.ndarray, weights: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Per sample and finding: the sample's weight times sklearn's balanced class weight, 0 where unlabelled;
    and the labels with NaN as 0."""
    known = ~np.isnan(labels)
    y = np.nan_to_num(labels)
    w = np.zeros_like(y)
    for k in range(labels.shape[1]):
        n, positives = known[:, k].sum(), (y[known[:, k], k] == 1).sum()
        if positives in (0, n):  # nothing to separate: this finding's fit stays at uniform attention, no score
            continue
        balance = np.where(y[:, k] == 1, n / (2 * positives), n / (2 * (n - positives)))
        w[:, k] = np.where(known[:, k], balance * weights, 0.0)
    return torch.from_numpy(y).float(), torch.from_numpy(w).float()


def fit_attention(maps: np.ndarray, labels: np.ndarray, weights: np.ndarray, c: float,
                  max_iter: int = 300) -> AttentionPool:
    """``maps`` (n, views, F, h, w); every view trains with its photo's labels and weight (NaN labels are left
    out of that finding's fit)."""
    n, views, width = maps.shape[:3]
    findings = labels.shape[1]
    y, w = _balanced_weights(np.repeat(labels, views, axis=0), np.repeat(weights / weights.mean(), views))
    pool = AttentionPool(width, findings)
    # Standardised once, positions as rows: the fit's every step is two passes over this one array.
    x = torch.from_numpy(maps.reshape(n * views, width, -1)).float().transpose(1, 2).contiguous()
    pool.mean.copy_(x.mean(dim=(0, 1)))
    pool.scale.copy_(x.std(dim=(0, 1)) + 1e-6)
    x = x.sub_(pool.mean).div_(pool.scale)
    labelled = (w > 0).sum(dim=0).clamp(min=1)  # samples behind each finding's loss
    optimiser = torch.optim.LBFGS([pool.attend, pool.score, pool.bias], max_iter=max_iter,
                                  line_search_fn="strong_wolfe", tolerance_grad=1e-5, tolerance_change=1e-8,
                                  history_size=20)

    def objective() -> torch.Tensor:
        optimiser.zero_grad()
        both = x @ torch.cat([pool.attend, pool.score]).T  # (n, positions, 2 * findings)
        attention = torch.softmax(both[..., :findings], dim=1)
        logits = (attention * (both[..., findings:] + pool.bias)).sum(dim=1)
        loss = nn.functional.binary_cross_entropy_with_logits(logits, y, weight=w, reduction="none").sum(dim=0)
        penalty = (pool.attend.square().sum(dim=1) + pool.score.square().sum(dim=1)) / (2 * c)
        total = ((loss + penalty) / labelled).sum()
        total.backward()
        return total

    optimiser.step(objective)
    return pool.eval()


@torch.no_grad()
def attention_logits(pool: AttentionPool, maps: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """(n, F, h, w) maps -> (n, findings) logits."""
    return np.concatenate([pool(torch.from_numpy(maps[i:i + batch_size]).float()).numpy()
                           for i in range(0, len(maps), batch_size)])
