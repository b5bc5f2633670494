"""The lifter network: a dilated temporal convolution network (after VideoPose3D) with a trajectory head.

Input (B, F, T) features from `data.features` (hip-relative 2D over the body's 2D size, confidences, log
2D size, hip centre); output for each of the T - (receptive field - 1) frames the Hips-relative 3D pose of
the 26 lifter joints, the Hips position in camera space and the world's up direction in camera space.
Filter widths (3, 3, 3, 3) give a receptive field of 81 frames; widths (1, 1, 1, 1) give the single-frame
baseline with the same depth and width.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .data import FEATURES, NJ


class TemporalLifter(nn.Module):
    """widths: filter width per layer; channels: hidden width; the receptive field is prod(widths)."""

    def __init__(self, widths: tuple[int, ...] = (3, 3, 3, 3), channels: int = 256, dropout: float = 0.1,
                 in_features: int = FEATURES, joints: int = NJ, up_head: bool = True):
        super().__init__()
        self.widths = tuple(int(w) for w in widths)
        self.channels = channels
        self.joints = joints
        self.expand = nn.Conv1d(in_features, channels, self.widths[0], bias=False)
        self.expand_bn = nn.BatchNorm1d(channels, momentum=0.1)
        self.convs = nn.ModuleList()
        self.bns = nn.ModuleList()
        self.pads: list[int] = []
        dil = self.widths[0]
        for w in self.widths[1:]:
            self.pads.append((w - 1) * dil // 2)
            self.convs.append(nn.Conv1d(channels, channels, w, dilation=dil, bias=False))
            self.bns.append(nn.BatchNorm1d(channels, momentum=0.1))
            self.convs.append(nn.Conv1d(channels, channels, 1, bias=False))
            self.bns.append(nn.BatchNorm1d(channels, momentum=0.1))
            dil *= w
        self.drop = nn.Dropout(dropout)
        self.pose_head = nn.Conv1d(channels, joints * 3, 1)
        self.traj_head = nn.Conv1d(channels, 3, 1)
        nn.init.zeros_(self.traj_head.weight)
        nn.init.zeros_(self.traj_head.bias)
        # the world's up direction in camera space: how the camera is tilted, for levelling the take
        self.up_head = nn.Conv1d(channels, 3, 1) if up_head else None

    @torch.no_grad()
    def fuse_batchnorm(self) -> TemporalLifter:
        """Fold every batch norm into the convolution before it (inference only; call after eval())."""
        def fold(conv: nn.Conv1d, bn: nn.BatchNorm1d) -> None:
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            conv.weight.mul_(scale[:, None, None])
            bias = bn.bias - bn.running_mean * scale
            conv.bias = nn.Parameter(bias if conv.bias is None else conv.bias * scale + bias)

        fold(self.expand, self.expand_bn)
        self.expand_bn = nn.Identity()
        for i, conv in enumerate(self.convs):
            fold(conv, self.bns[i])
            self.bns[i] = nn.Identity()
        return self

    @property
    def receptive_field(self) -> int:
        return math.prod(self.widths)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """x: (B, FEATURES, T) -> pose (B, T', NJ, 3) Hips-relative metres, traj (B, T', 3) raw head output,
        up (B, T', 3) unnormalised up direction in camera space (None without the up head).

        T' = T - receptive_field + 1. `decode_root` turns the raw trajectory output into a camera position.
        """
        h = self.drop(torch.relu(self.expand_bn(self.expand(x))))
        for i, pad in enumerate(self.pads):
            res = h[:, :, pad:h.shape[2] - pad]
            h = self.drop(torch.relu(self.bns[2 * i](self.convs[2 * i](h))))
            h = res + self.drop(torch.relu(self.bns[2 * i + 1](self.convs[2 * i + 1](h))))
        h = h.to(self.pose_head.weight.dtype)  # the heads may be kept wider than the rest (bfloat16 inference)
        pose = self.pose_head(h).permute(0, 2, 1).reshape(h.shape[0], h.shape[2], self.joints, 3)
        pose = pose - pose[:, :, :1]  # joint 0 is Hips: exactly zero
        traj = self.traj_head(h).permute(0, 2, 1)
        up = self.up_head(h).permute(0, 2, 1) if self.up_head is not None else None
        return pose, traj, up


def decode_root(traj: torch.Tensor, hip2d: torch.Tensor) -> torch.Tensor:
    """Hips position in camera space from the trajectory head.

    traj: (..., 3) raw output (du, dv, log-depth offset); hip2d: (..., 2) normalised 2D hip centre of the
    same frames. Depth z = 4 m * exp(traj[2]); the Hips are on the ray through the hip centre, corrected by
    (du, dv) (the hip keypoints are not the joint centres).
    """
    z = 4.0 * torch.exp(traj[..., 2:3].clamp(-4.0, 3.0))
    xy = (hip2d + 0.1 * traj[..., :2]) * z
    return torch.cat([xy, z], dim=-1)
