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
from typing import NamedTuple, Protocol, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Params = dict[str, Tensor]


class Update(Protocol):
    """What a trainer hands gradients to (:class:`hpenv.training.NesterovSGD`)."""

    def out(self, name: str) -> Tensor | None:
        """Where ``name``'s gradient may be written directly (``out=``), or None."""

    def __call__(self, name: str, grad: Tensor) -> None:
        """Takes ``name``'s gradient for the leading rows (children) that used the parameter."""


def cross_entropy(logits: Tensor, y: Tensor, weights: Tensor | None) -> tuple[Tensor, Tensor]:
    """Per-child mean cross-entropy ``(n,)`` of logits ``(n, B, C)``, and its gradient w.r.t. the logits.

    ``weights`` ``(n, B)`` replaces the mean's ``1/B`` when children use different batch sizes
    (padding examples get weight 0).
    """
    logp = torch.log_softmax(logits, -1)
    nll = -logp.gather(-1, y.unsqueeze(-1)).squeeze(-1)
    loss = nll.mean(1) if weights is None else (nll * weights).sum(1)
    grad = logp.exp_().scatter_add_(-1, y.unsqueeze(-1), torch.full_like(nll, -1.0).unsqueeze(-1))
    return loss, grad.mul_(1.0 / y.shape[1] if weights is None else weights.unsqueeze(-1))


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


class ParamSpec(NamedTuple):
    """One parameter of a child: its module name, shape, fan-in (for init) and residual block."""

    name: str
    shape: tuple[int, ...]
    fan_in: int
    block: int | None = None  # index of the residual block it belongs to, None for stem and head


class _Family:
    """Shared parts: parameter table, per-child initialisation, module export."""

    #: every parameter of one child, in storage order; names match the module's state_dict
    param_specs: list[ParamSpec]
    width: int
    max_depth: int

    def _specs(self, stem: list[tuple], block: list[tuple], head: list[tuple]) -> list[ParamSpec]:
        # One leaf per block (not one tensor with a block axis), so that autograd never has to
        # scatter a block's gradient into a tensor holding all blocks.
        per_block = [ParamSpec(name.format(i), shape, fan, i) for i in range(self.max_depth)
                     for name, shape, fan in block]
        return [ParamSpec(*s) for s in stem] + per_block + [ParamSpec(*s) for s in head]

    def init_child(self, params: Params, k: int, generator: torch.Generator) -> None:
        """Draw child ``k``'s weights as ``nn.Linear`` / ``nn.Conv2d`` do: U(-1/sqrt(fan_in), ...)."""
        with torch.no_grad():
            for spec in self.param_specs:
                bound = 1.0 / math.sqrt(spec.fan_in)
                params[spec.name][k].uniform_(-bound, bound, generator=generator)

    def to_module(self, p: Params, k: int, depth: int, dropout: float = 0.0) -> nn.Module:
        """A copy of child ``k`` as an ordinary module (:class:`ResidualMLP` / :class:`ResidualCNN`)."""
        module = self.module_class(*self.module_args, depth=depth, dropout=dropout)
        # linear weights are stored (in, out) for batched matmuls; nn.Linear keeps (out, in)
        module.load_state_dict({name: v[k].T if v.dim() == 3 else v[k] for name, v in p.items()})
        return module.to(p["head.bias"].device)

    @property
    def hidden_shape(self) -> int:
        """Size of the unit a dropout mask covers in one block (features or channels)."""
        return self.width


class MLPFamily(_Family):
    """Residual MLPs for vector inputs ``(features,)``."""

    kind = "mlp"

    def __init__(self, in_features: int, num_classes: int, width: int = 64, max_depth: int = 4):
        self.in_features, self.num_classes = in_features, num_classes
        self.width, self.max_depth = width, max_depth
        self.module_class, self.module_args = ResidualMLP, (in_features, num_classes, width, max_depth)
        w = width
        self.param_specs = self._specs(
            [("stem.weight", (in_features, w), in_features), ("stem.bias", (w,), in_features)],
            [("fc1.{}.weight", (w, w), w), ("fc1.{}.bias", (w,), w),
             ("fc2.{}.weight", (w, w), w), ("fc2.{}.bias", (w,), w)],
            [("head.weight", (w, num_classes), w), ("head.bias", (num_classes,), w)],
        )

    def forward(self, p: Params, x: Tensor, blocks: Sequence[Tensor | None],
                drops: Sequence[Tensor | None] | None = None) -> Tensor:
        """Logits ``(K, B, classes)`` for inputs ``(K, B, features)``, or ``(B, features)`` shared by all.

        ``blocks[i]`` is None when block ``i`` is active for every child, else the indices of the
        children for which it is: only those compute it (children with a shallower depth skip
        it, as a single child would), and the others pass through unchanged. ``drops[i]`` is None
        or a scaled dropout mask ``(K, B, width)``.
        """
        h = torch.relu(torch.matmul(x, p["stem.weight"]) + p["stem.bias"].unsqueeze(1))
        for i, active in enumerate(blocks):
            w1, b1 = p[f"fc1.{i}.weight"], p[f"fc1.{i}.bias"]
            w2, b2 = p[f"fc2.{i}.weight"], p[f"fc2.{i}.bias"]
            drop = None if drops is None else drops[i]
            hb = h
            if active is not None:
                hb, w1, b1, w2, b2 = (t.index_select(0, active) for t in (h, w1, b1, w2, b2))
                drop = None if drop is None else drop.index_select(0, active)
            r = torch.relu(torch.baddbmm(b1.unsqueeze(1), hb, w1))
            if drop is not None:
                r = r * drop
            r = torch.baddbmm(b2.unsqueeze(1), r, w2)
            # h >= 0 (after a ReLU), so relu(h) == h for the children that skipped the block
            h = torch.relu(h + r if active is None else h.index_add(0, active, r))
        return torch.baddbmm(p["head.bias"].unsqueeze(1), h, p["head.weight"])

    def trainer(self, p: Params, counts: Sequence[int], n: int, update: Update) -> "MLPTrainStep":
        """One SGD step's forward and backward pass for the first ``n`` children, as a callable.

        Children are ordered deepest first: ``counts[i]`` (non-increasing) children run block
        ``i``, and they are the first ones. Each parameter's gradient, for the rows of the
        children that used it, goes to ``update(name, grad)``, written straight into
        ``update.out(name)`` when that is not None.
        """
        return MLPTrainStep(p, counts, n, update)


class MLPTrainStep:
    """Forward and backward pass of the first ``n`` children of an :class:`MLPFamily` (see ``trainer``).

    The backward pass is written out by hand: at these sizes autograd's bookkeeping costs more
    than the arithmetic. Every view the pass needs is made once here, for all the SGD steps of
    an action.
    """

    def __init__(self, p: Params, counts: Sequence[int], n: int, update: Update):
        self.n, self.counts, self.update = n, list(counts), update

        def layer(name: str, m: int) -> tuple[str, str, Tensor, Tensor, Tensor]:
            w, b = p[f"{name}.weight"][:m], p[f"{name}.bias"][:m]
            return f"{name}.weight", f"{name}.bias", w, b.unsqueeze(1), w.transpose(1, 2)

        self.stem, self.head = layer("stem", n), layer("head", n)
        self.blocks = [(layer(f"fc1.{i}", m), layer(f"fc2.{i}", m)) for i, m in enumerate(self.counts)]

    @torch.no_grad()
    def __call__(self, x: Tensor, y: Tensor, drops: Sequence[Tensor] | None = None,
                 weights: Tensor | None = None) -> Tensor:
        """Losses ``(n,)`` for inputs ``(n, B, features)`` and labels ``(n, B)``; hands over the gradients.

        ``drops[i]`` is the scaled dropout mask ``(counts[i], B, width)`` of block ``i``;
        ``weights`` ``(n, B)`` per-example loss weights (see :func:`cross_entropy`).
        """
        n, counts, update = self.n, self.counts, self.update
        h = torch.baddbmm(self.stem[3], x, self.stem[2]).relu_()
        inputs, hidden, masked = [h], [], []  # per block: its input, relu(fc1) and what fc2 saw
        for i, (fc1, fc2) in enumerate(self.blocks):
            hi = inputs[-1][:counts[i]]
            a = torch.baddbmm(fc1[3], hi, fc1[2]).relu_()
            r = a if drops is None else a * drops[i]
            inputs.append(torch.baddbmm(fc2[3], r, fc2[2]).add_(hi).relu_())
            hidden.append(a)
            masked.append(r)
        # each child's last hidden state is the output of its last block (deepest children first)
        ends = [*counts, 0]
        pieces = [inputs[j][ends[j]:] for j in range(len(counts), -1, -1) if len(inputs[j]) > ends[j]]
        h = pieces[0] if len(pieces) == 1 else torch.cat(pieces)
        w_name, b_name, w, b, wt = self.head
        loss, dlogits = cross_entropy(torch.baddbmm(b, h, w), y, weights)
        dh = torch.bmm(dlogits, wt)
        update(w_name, torch.bmm(h.transpose(1, 2), dlogits, out=update.out(w_name)))
        update(b_name, torch.sum(dlogits, 1, out=update.out(b_name)))
        for i in range(len(counts) - 1, -1, -1):
            fc1, fc2 = self.blocks[i]
            m = counts[i]
            dout = torch.ops.aten.threshold_backward(dh[:m], inputs[i + 1], 0)
            da = torch.bmm(dout, fc2[4])
            update(fc2[0], torch.bmm(masked[i].transpose(1, 2), dout, out=update.out(fc2[0])))
            update(fc2[1], torch.sum(dout, 1, out=update.out(fc2[1])))
            if drops is not None:
                da.mul_(drops[i])
            da = torch.ops.aten.threshold_backward(da, hidden[i], 0)
            # the residual path carries dout; the children after the first m skipped the block,
            # their rows of dh pass through
            if m == n:
                dh = torch.baddbmm(dout, da, fc1[4])
            else:
                torch.baddbmm(dout, da, fc1[4], out=dh[:m])
            update(fc1[0], torch.bmm(inputs[i][:m].transpose(1, 2), da, out=update.out(fc1[0])))
            update(fc1[1], torch.sum(da, 1, out=update.out(fc1[1])))
        dh = torch.ops.aten.threshold_backward(dh, inputs[0], 0)
        update(self.stem[0], torch.bmm(x.transpose(1, 2), dh, out=update.out(self.stem[0])))
        update(self.stem[1], torch.sum(dh, 1, out=update.out(self.stem[1])))
        return loss


class CNNFamily(_Family):
    """Residual CNNs for image inputs ``(channels, height, width)``; K children run as one grouped conv."""

    kind = "cnn"

    def __init__(self, in_channels: int, num_classes: int, width: int = 16, max_depth: int = 4):
        self.in_channels, self.num_classes = in_channels, num_classes
        self.width, self.max_depth = width, max_depth
        self.module_class, self.module_args = ResidualCNN, (in_channels, num_classes, width, max_depth)
        c, fan = width, width * 9
        self.param_specs = self._specs(
            [("stem.weight", (c, in_channels, 3, 3), in_channels * 9), ("stem.bias", (c,), in_channels * 9)],
            [("conv1.{}.weight", (c, c, 3, 3), fan), ("conv1.{}.bias", (c,), fan),
             ("conv2.{}.weight", (c, c, 3, 3), fan), ("conv2.{}.bias", (c,), fan)],
            [("head.weight", (c, num_classes), c), ("head.bias", (num_classes,), c)],
        )

    def forward(self, p: Params, x: Tensor, blocks: Sequence[Tensor | None],
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
        for i, active in enumerate(blocks):
            r = torch.relu(F.conv2d(h, flat(p[f"conv1.{i}.weight"]), p[f"conv1.{i}.bias"].reshape(-1),
                                    padding=1, groups=K))
            if drops is not None and drops[i] is not None:
                r = r * drops[i].transpose(0, 1).reshape(B, K * c, 1, 1)
            r = F.conv2d(r, flat(p[f"conv2.{i}.weight"]), p[f"conv2.{i}.bias"].reshape(-1), padding=1, groups=K)
            if active is not None:  # one grouped conv for all: mask out children that skip the block
                gate = torch.zeros(K, dtype=torch.bool, device=r.device).index_fill_(0, active, True)
                r = torch.where(gate.repeat_interleave(c).view(1, K * c, 1, 1), r, 0.0)
            h = torch.relu(h + r)
        pooled = h.mean(dim=(2, 3)).reshape(B, K, c).transpose(0, 1)
        return torch.baddbmm(p["head.bias"].unsqueeze(1), pooled, p["head.weight"])

    def trainer(self, p: Params, counts: Sequence[int], n: int, update: Update):
        """As :meth:`MLPFamily.trainer`, with the gradients from autograd."""
        device = p["head.bias"].device
        blocks = [None if m == n else torch.arange(m, device=device) for m in counts]
        used = {spec.name: n if spec.block is None else counts[spec.block]
                for spec in self.param_specs if spec.block is None or spec.block < len(counts)}

        def step(x: Tensor, y: Tensor, drops: Sequence[Tensor] | None = None,
                 weights: Tensor | None = None) -> Tensor:
            leaves = {name: p[name][:n].detach().requires_grad_() for name in used}
            if drops is not None:  # the forward pass wants every child's mask: pad with ones
                drops = [torch.cat([d, d.new_ones(n - len(d), *d.shape[1:])]) for d in drops]
            with torch.enable_grad():
                logits = self.forward(leaves, x, blocks, drops)
                nll = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view_as(y)
                loss = nll.mean(1) if weights is None else (nll * weights).sum(1)
                grads = torch.autograd.grad(loss.sum(), list(leaves.values()))
            with torch.no_grad():
                for (name, m), grad in zip(used.items(), grads):
                    update(name, grad[:m])
            return loss.detach()

        return step


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
