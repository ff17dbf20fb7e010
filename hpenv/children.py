"""Child networks with depth gates, written once for a stack of K children.

A *family* describes the parameters of one child (names and shapes), initialises them from a
child's own generator, and runs K children at once on stacked parameters: batched matrix
products for the residual MLP, one grouped convolution for the residual CNN. Block ``i`` of a
child is active when ``i < depth``; an inactive block is the identity and keeps its weights, so
switching depth off and on again never re-initialises anything.

``family.to_module(params, depth)`` turns one child's slice into an ordinary ``nn.Module``
(:class:`ResidualMLP` or :class:`ResidualCNN`) that users can inspect, evaluate or export.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Params = dict[str, Tensor]


class ResidualMLP(nn.Module):
    """Stem, ``max_depth`` residual blocks (the first ``depth`` active), linear head.

    A block computes ``relu(h + fc2(dropout(relu(fc1(h)))))``.
    """

    def __init__(self, in_features: int, num_classes: int, width: int = 64, max_depth: int = 4,
                 depth: int | None = None, dropout: float = 0.0):
        super().__init__()
        self.stem = nn.Linear(in_features, width)
        self.fc1 = nn.ModuleList(nn.Linear(width, width) for _ in range(max_depth))
        self.fc2 = nn.ModuleList(nn.Linear(width, width) for _ in range(max_depth))
        self.head = nn.Linear(width, num_classes)
        self.depth = max_depth if depth is None else depth
        self.dropout = dropout

    def forward(self, x: Tensor) -> Tensor:
        h = F.relu(self.stem(x))
        for i in range(self.depth):
            r = F.dropout(F.relu(self.fc1[i](h)), self.dropout, self.training)
            h = F.relu(h + self.fc2[i](r))
        return self.head(h)


class ResidualCNN(nn.Module):
    """Strided 3x3 stem, ``max_depth`` residual 3x3 blocks (first ``depth`` active), pooled linear head."""

    def __init__(self, in_channels: int, num_classes: int, width: int = 16, max_depth: int = 4,
                 depth: int | None = None, dropout: float = 0.0):
        super().__init__()
        self.stem = nn.Conv2d(in_channels, width, 3, stride=2, padding=1)
        self.conv1 = nn.ModuleList(nn.Conv2d(width, width, 3, padding=1) for _ in range(max_depth))
        self.conv2 = nn.ModuleList(nn.Conv2d(width, width, 3, padding=1) for _ in range(max_depth))
        self.head = nn.Linear(width, num_classes)
        self.depth = max_depth if depth is None else depth
        self.dropout = dropout

    def forward(self, x: Tensor) -> Tensor:
        h = F.relu(self.stem(x))
        for i in range(self.depth):
            r = F.dropout2d(F.relu(self.conv1[i](h)), self.dropout, self.training)
            h = F.relu(h + self.conv2[i](r))
        return self.head(h.mean(dim=(2, 3)))


class _Family:
    """Shared parts: parameter table, per-child initialisation, module export."""

    #: (name, shape, fan_in) for one child, in storage order.
    param_specs: list[tuple[str, tuple[int, ...], int]]
    width: int
    max_depth: int

    def init_child(self, params: Params, k: int, generator: torch.Generator) -> None:
        """Draw child ``k``'s weights as ``nn.Linear`` / ``nn.Conv2d`` do: U(-1/sqrt(fan_in), ...)."""
        with torch.no_grad():
            for name, _, fan_in in self.param_specs:
                bound = 1.0 / math.sqrt(fan_in)
                params[name][k].uniform_(-bound, bound, generator=generator)

    @property
    def hidden_shape(self) -> int:
        """Size of the unit a dropout mask covers in one block (features or channels)."""
        return self.width


class MLPFamily(_Family):
    """Residual MLPs for vector inputs ``(features,)``."""

    kind = "mlp"
    #: parameters with a leading block axis (switched off by the depth gate)
    block_params = ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias")

    def __init__(self, in_features: int, num_classes: int, width: int = 64, max_depth: int = 4):
        self.in_features, self.num_classes = in_features, num_classes
        self.width, self.max_depth = width, max_depth
        w, L = width, max_depth
        self.param_specs = [
            ("stem.weight", (in_features, w), in_features), ("stem.bias", (w,), in_features),
            ("fc1.weight", (L, w, w), w), ("fc1.bias", (L, w), w),
            ("fc2.weight", (L, w, w), w), ("fc2.bias", (L, w), w),
            ("head.weight", (w, num_classes), w), ("head.bias", (num_classes,), w),
        ]

    def forward(self, p: Params, x: Tensor, gates: Sequence[Tensor | None],
                drops: Sequence[Tensor | None] | None = None) -> Tensor:
        """Logits ``(K, B, classes)`` for inputs ``(K, B, features)``, or ``(B, features)`` shared by all.

        ``gates[i]`` is None when block ``i`` is active for every child, else a ``(K, 1, 1)`` bool
        tensor (a switched-off block contributes exactly 0, even where its output overflowed); ``drops[i]`` is None or a scaled dropout mask ``(K, B, width)``.
        """
        h = torch.relu(torch.matmul(x, p["stem.weight"]) + p["stem.bias"].unsqueeze(1))
        for i, gate in enumerate(gates):
            r = torch.relu(torch.baddbmm(p["fc1.bias"][:, i].unsqueeze(1), h, p["fc1.weight"][:, i]))
            if drops is not None and drops[i] is not None:
                r = r * drops[i]
            r = torch.baddbmm(p["fc2.bias"][:, i].unsqueeze(1), r, p["fc2.weight"][:, i])
            h = torch.relu(h + (r if gate is None else torch.where(gate, r, 0.0)))
        return torch.baddbmm(p["head.bias"].unsqueeze(1), h, p["head.weight"])

    def to_module(self, p: Params, k: int, depth: int, dropout: float = 0.0) -> ResidualMLP:
        m = ResidualMLP(self.in_features, self.num_classes, self.width, self.max_depth, depth, dropout)
        with torch.no_grad():
            m.stem.weight.copy_(p["stem.weight"][k].T)
            m.stem.bias.copy_(p["stem.bias"][k])
            for i in range(self.max_depth):
                m.fc1[i].weight.copy_(p["fc1.weight"][k, i].T)
                m.fc1[i].bias.copy_(p["fc1.bias"][k, i])
                m.fc2[i].weight.copy_(p["fc2.weight"][k, i].T)
                m.fc2[i].bias.copy_(p["fc2.bias"][k, i])
            m.head.weight.copy_(p["head.weight"][k].T)
            m.head.bias.copy_(p["head.bias"][k])
        return m.to(p["head.bias"].device)


class CNNFamily(_Family):
    """Residual CNNs for image inputs ``(channels, height, width)``; K children run as one grouped conv."""

    kind = "cnn"
    #: parameters with a leading block axis (switched off by the depth gate)
    block_params = ("conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias")

    def __init__(self, in_channels: int, num_classes: int, width: int = 16, max_depth: int = 4):
        self.in_channels, self.num_classes = in_channels, num_classes
        self.width, self.max_depth = width, max_depth
        c, L = width, max_depth
        self.param_specs = [
            ("stem.weight", (c, in_channels, 3, 3), in_channels * 9), ("stem.bias", (c,), in_channels * 9),
            ("conv1.weight", (L, c, c, 3, 3), c * 9), ("conv1.bias", (L, c), c * 9),
            ("conv2.weight", (L, c, c, 3, 3), c * 9), ("conv2.bias", (L, c), c * 9),
            ("head.weight", (c, num_classes), c), ("head.bias", (num_classes,), c),
        ]

    def forward(self, p: Params, x: Tensor, gates: Sequence[Tensor | None],
                drops: Sequence[Tensor | None] | None = None) -> Tensor:
        """Logits ``(K, B, classes)`` for images ``(K, B, C, H, W)``, or ``(B, C, H, W)`` shared by all.

        Activations live as ``(B, K * width, H, W)`` so that each layer of all K children is one
        grouped convolution. ``drops[i]`` is a scaled channel mask ``(K, B, width)``.
        """
        K, c = p["head.bias"].shape[0], self.width
        flat = lambda w: w.reshape(K * w.shape[1], *w.shape[2:])  # noqa: E731  (K, out, ...) -> (K*out, ...)
        if x.dim() == 4:  # one batch shared by every child: an ordinary convolution to K*c channels
            h = F.conv2d(x, flat(p["stem.weight"]), p["stem.bias"].reshape(-1), stride=2, padding=1)
        else:
            B = x.shape[1]
            xg = x.transpose(0, 1).reshape(B, K * x.shape[2], *x.shape[3:])
            h = F.conv2d(xg, flat(p["stem.weight"]), p["stem.bias"].reshape(-1), stride=2, padding=1, groups=K)
        h = torch.relu(h)
        B = h.shape[0]
        for i, gate in enumerate(gates):
            r = torch.relu(F.conv2d(h, flat(p["conv1.weight"][:, i]), p["conv1.bias"][:, i].reshape(-1),
                                    padding=1, groups=K))
            if drops is not None and drops[i] is not None:
                r = r * drops[i].transpose(0, 1).reshape(B, K * c, 1, 1)
            r = F.conv2d(r, flat(p["conv2.weight"][:, i]), p["conv2.bias"][:, i].reshape(-1), padding=1, groups=K)
            if gate is not None:
                r = torch.where(gate.reshape(K, 1).expand(K, c).reshape(1, K * c, 1, 1), r, 0.0)
            h = torch.relu(h + r)
        pooled = h.mean(dim=(2, 3)).reshape(B, K, c).transpose(0, 1)
        return torch.baddbmm(p["head.bias"].unsqueeze(1), pooled, p["head.weight"])

    def to_module(self, p: Params, k: int, depth: int, dropout: float = 0.0) -> ResidualCNN:
        m = ResidualCNN(self.in_channels, self.num_classes, self.width, self.max_depth, depth, dropout)
        with torch.no_grad():
            m.stem.weight.copy_(p["stem.weight"][k])
            m.stem.bias.copy_(p["stem.bias"][k])
            for i in range(self.max_depth):
                m.conv1[i].weight.copy_(p["conv1.weight"][k, i])
                m.conv1[i].bias.copy_(p["conv1.bias"][k, i])
                m.conv2[i].weight.copy_(p["conv2.weight"][k, i])
                m.conv2[i].bias.copy_(p["conv2.bias"][k, i])
            m.head.weight.copy_(p["head.weight"][k].T)
            m.head.bias.copy_(p["head.bias"][k])
        return m.to(p["head.bias"].device)


def make_family(kind: str, input_shape: tuple[int, ...], num_classes: int,
                width: int | None = None, max_depth: int = 4) -> MLPFamily | CNNFamily:
    """The child family ``kind`` (``"mlp"`` or ``"cnn"``) for inputs of ``input_shape``."""
    if kind == "mlp":
        in_features = math.prod(input_shape)
        return MLPFamily(in_features, num_classes, width or 64, max_depth)
    if kind == "cnn":
        if len(input_shape) != 3:
            raise ValueError(f"child='cnn' needs image inputs (channels, height, width), got {input_shape}")
        return CNNFamily(input_shape[0], num_classes, width or 16, max_depth)
    raise ValueError(f"child must be 'mlp' or 'cnn', got {kind!r}")
