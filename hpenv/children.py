"""Child networks with depth gates, written once for a stack of K children.

A *family* describes the parameters of one child (names and shapes), initialises them from a
child's own generator, and runs K children at once on stacked parameters: batched matrix
products for the residual MLP; for the residual CNN, ordinary convolutions child by child on CPU
and one grouped convolution of all children on CUDA (see [`CNNFamily`][hpenv.children.CNNFamily]). Block ``i``
of a child is active when ``i < depth``; an inactive block is the identity and keeps its weights, so
switching depth off and on again never re-initialises anything.

``family.to_module(params, depth)`` turns one child's slice into an ordinary ``nn.Module``
([`ResidualMLP`][hpenv.children.ResidualMLP] or [`ResidualCNN`][hpenv.children.ResidualCNN]) that users can
inspect, evaluate or export.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Protocol, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Params = dict[str, Tensor]


class Update(Protocol):
    """What a trainer hands gradients to ([`hpenv.training.NesterovSGD`][])."""

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
        """A copy of child ``k`` as an ordinary module ([`ResidualMLP`][hpenv.children.ResidualMLP] /
        [`ResidualCNN`][hpenv.children.ResidualCNN])."""
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
    """Forward and backward pass of the first ``n`` children of an [`MLPFamily`][hpenv.children.MLPFamily]
    (see ``trainer``).

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
        ``weights`` ``(n, B)`` per-example loss weights (see [`cross_entropy`][hpenv.children.cross_entropy]).
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
    """Residual CNNs for image inputs ``(channels, height, width)``.

    K children run in one of two formulations, chosen by device unless ``grouped`` says:

    * per child (CPU): a loop of ordinary convolutions, one child after another, with the backward
      pass written out ([`CNNTrainStep`][hpenv.children.CNNTrainStep]). oneDNN runs K ordinary convolutions of
      a batch of 32 at about twice the speed of one grouped convolution of K children.
    * grouped (CUDA): each layer of all K children is one grouped convolution, gradients from
      autograd; one kernel launch per layer whatever K is.
    """

    kind = "cnn"

    def __init__(self, in_channels: int, num_classes: int, width: int = 16, max_depth: int = 4,
                 grouped: bool | None = None):
        self.in_channels, self.num_classes = in_channels, num_classes
        self.width, self.max_depth = width, max_depth
        self.grouped = grouped  # None: grouped on CUDA, per child elsewhere
        self.module_class, self.module_args = ResidualCNN, (in_channels, num_classes, width, max_depth)
        c, fan = width, width * 9
        self.param_specs = self._specs(
            [("stem.weight", (c, in_channels, 3, 3), in_channels * 9), ("stem.bias", (c,), in_channels * 9)],
            [("conv1.{}.weight", (c, c, 3, 3), fan), ("conv1.{}.bias", (c,), fan),
             ("conv2.{}.weight", (c, c, 3, 3), fan), ("conv2.{}.bias", (c,), fan)],
            [("head.weight", (c, num_classes), c), ("head.bias", (num_classes,), c)],
        )

    def _is_grouped(self, p: Params) -> bool:
        return p["head.bias"].device.type == "cuda" if self.grouped is None else self.grouped

    def forward(self, p: Params, x: Tensor, blocks: Sequence[Tensor | None],
                drops: Sequence[Tensor | None] | None = None) -> Tensor:
        """Logits ``(K, B, classes)`` for images ``(K, B, C, H, W)``, or ``(B, C, H, W)`` shared by all.

        ``blocks`` as for [`MLPFamily.forward`][hpenv.children.MLPFamily.forward]; ``drops[i]`` is a scaled
        channel mask ``(K, B, width)``.
        """
        if self._is_grouped(p):
            return self._forward_grouped(p, x, blocks, drops)
        K = p["head.bias"].shape[0]
        runs = [range(K) if active is None else set(active.tolist()) for active in blocks]
        pooled = []
        for k in range(K):
            h = F.conv2d(x if x.dim() == 4 else x[k], p["stem.weight"][k], p["stem.bias"][k], stride=2, padding=1)
            # channels-last activations: oneDNN's own layout for 16 channels, no reorder per call
            # (1.3x faster end to end than NCHW); later layers keep the layout of their input
            h = h.contiguous(memory_format=torch.channels_last).relu_()
            for i in range(len(blocks)):
                if k not in runs[i]:  # a child runs blocks 0 .. depth - 1: none after the first it skips
                    break
                # in place on the convolutions' outputs (which their backward does not need): the
                # activations of a validation split are large, each pass over them costs
                r = F.conv2d(h, p[f"conv1.{i}.weight"][k], p[f"conv1.{i}.bias"][k], padding=1).relu_()
                if drops is not None and drops[i] is not None:
                    r = r * drops[i][k].view(*r.shape[:2], 1, 1)
                h = F.conv2d(r, p[f"conv2.{i}.weight"][k], p[f"conv2.{i}.bias"][k], padding=1).add_(h).relu_()
            pooled.append(h.mean(dim=(2, 3)))
        return torch.baddbmm(p["head.bias"].unsqueeze(1), torch.stack(pooled), p["head.weight"])

    def _forward_grouped(self, p: Params, x: Tensor, blocks: Sequence[Tensor | None],
                         drops: Sequence[Tensor | None] | None) -> Tensor:
        """[`forward`][hpenv.children.CNNFamily.forward] with activations ``(B, K * width, H, W)``: each layer
        one grouped convolution."""
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
        """As [`MLPFamily.trainer`][hpenv.children.MLPFamily.trainer]."""
        if not self._is_grouped(p):
            return CNNTrainStep(p, counts, n, update)
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
                logits = self._forward_grouped(leaves, x, blocks, drops)
                nll = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view_as(y)
                loss = nll.mean(1) if weights is None else (nll * weights).sum(1)
                grads = torch.autograd.grad(loss.sum(), list(leaves.values()))
            with torch.no_grad():
                for (name, m), grad in zip(used.items(), grads):
                    update(name, grad[:m])
            return loss.detach()

        return step


class CNNTrainStep:
    """Forward and backward pass of the first ``n`` children of a [`CNNFamily`][hpenv.children.CNNFamily],
    child by child.

    Each child runs ordinary (ungrouped) convolutions with its own weights, and its backward pass
    is written out with ``convolution_backward``: on CPU, oneDNN runs a grouped convolution of K
    children at half the speed of K ordinary ones, and autograd adds its bookkeeping on top.
    """

    def __init__(self, p: Params, counts: Sequence[int], n: int, update: Update):
        self.n, self.update = n, update
        #: child k (slot order, deepest first) runs blocks 0 .. depths[k] - 1
        self.depths = [sum(m > k for m in counts) for k in range(n)]
        rows = {"stem": n, "head": n, **{f"conv{j}.{i}": m for i, m in enumerate(counts) for j in (1, 2)}}
        self.params = {f"{layer}.{kind}": p[f"{layer}.{kind}"][:m] for layer, m in rows.items()
                        for kind in ("weight", "bias")}
        # gradients go straight to where the optimiser wants them, else to buffers of our own
        self.grads = {name: g if (g := update.out(name)) is not None else torch.empty_like(w)
                      for name, w in self.params.items()}

    @torch.no_grad()
    def __call__(self, x: Tensor, y: Tensor, drops: Sequence[Tensor] | None = None,
                 weights: Tensor | None = None) -> Tensor:
        """Losses ``(n,)`` for images ``(n, B, C, H, W)`` and labels ``(n, B)``; hands over the gradients.

        ``drops[i]`` is the scaled channel mask ``(counts[i], B, width)`` of block ``i``;
        ``weights`` ``(n, B)`` per-example loss weights (see [`cross_entropy`][hpenv.children.cross_entropy]).
        """
        losses = [self._child(k, x[k], y[k], drops, None if weights is None else weights[k])
                  for k in range(self.n)]
        for name, grad in self.grads.items():
            self.update(name, grad)
        return torch.cat(losses)

    def _child(self, k: int, x: Tensor, y: Tensor, drops: Sequence[Tensor] | None,
               weights: Tensor | None) -> Tensor:
        w, g = self.params, self.grads
        conv_backward = torch.ops.aten.convolution_backward
        h = F.conv2d(x, w["stem.weight"][k], w["stem.bias"][k], stride=2, padding=1)
        h = h.contiguous(memory_format=torch.channels_last).relu_()  # see CNNFamily.forward
        B, c = h.shape[:2]
        hs, saved = [h], []  # per block: its input (and, at the end, the last output); relu(conv1), mask
        for i in range(self.depths[k]):
            a = F.conv2d(h, w[f"conv1.{i}.weight"][k], w[f"conv1.{i}.bias"][k], padding=1).relu_()
            mask = None if drops is None else drops[i][k].view(B, c, 1, 1)
            r = a if mask is None else a * mask
            h = F.conv2d(r, w[f"conv2.{i}.weight"][k], w[f"conv2.{i}.bias"][k], padding=1).add_(h).relu_()
            hs.append(h)
            saved.append((a, r, mask))
        pooled = h.mean((2, 3))
        loss, dlogits = cross_entropy(torch.addmm(w["head.bias"][k], pooled, w["head.weight"][k]).unsqueeze(0),
                                      y.unsqueeze(0), None if weights is None else weights.unsqueeze(0))
        dlogits = dlogits[0]
        torch.mm(pooled.T, dlogits, out=g["head.weight"][k])
        torch.sum(dlogits, 0, out=g["head.bias"][k])
        # the mean over H x W spreads each pooled gradient evenly over the positions
        dh = torch.mm(dlogits, w["head.weight"][k].T).div_(h.shape[2] * h.shape[3])[:, :, None, None].expand_as(h)
        for i in range(self.depths[k] - 1, -1, -1):
            a, r, mask = saved[i]
            dz = torch.ops.aten.threshold_backward(dh, hs[i + 1], 0)
            dr, dw, db = conv_backward(dz, r, w[f"conv2.{i}.weight"][k], [c], [1, 1], [1, 1], [1, 1],
                                       False, [0, 0], 1, [True, True, True])
            g[f"conv2.{i}.weight"][k].copy_(dw)
            g[f"conv2.{i}.bias"][k].copy_(db)
            if mask is not None:
                dr.mul_(mask)
            da = torch.ops.aten.threshold_backward(dr, a, 0)
            dh, dw, db = conv_backward(da, hs[i], w[f"conv1.{i}.weight"][k], [c], [1, 1], [1, 1], [1, 1],
                                       False, [0, 0], 1, [True, True, True])
            g[f"conv1.{i}.weight"][k].copy_(dw)
            g[f"conv1.{i}.bias"][k].copy_(db)
            dh.add_(dz)  # the residual path
        dh = torch.ops.aten.threshold_backward(dh, hs[0], 0)
        _, dw, db = conv_backward(dh, x, w["stem.weight"][k], [c], [2, 2], [1, 1], [1, 1],
                                  False, [0, 0], 1, [False, True, True])
        g["stem.weight"][k].copy_(dw)
        g["stem.bias"][k].copy_(db)
        return loss


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
