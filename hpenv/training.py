"""The one training kernel: K children, each with its own hyper-parameters, trained in one pass.

The single env runs it at K=1 and the vector env at K=num_envs, so both produce the same
numbers from the same code. Design choices, each for speed:

* All weights of all children live in one flat buffer, parameter by parameter: each parameter
  is a ``(K, *shape)`` block with a row per child, so trainers write gradients straight into
  their leading rows. The SGD + Nesterov update is three operations per group of equal-sized
  parameters of a block, with one learning rate, momentum and weight decay per row (three in
  all for a single env).
* Each action, the children are put in "slot" order, deepest first, so the children that run
  block i are its leading rows: no gather or scatter inside the SGD loop.
* MLP children have a hand-written backward pass ([`hpenv.children.MLPTrainStep`][]): at
  these sizes autograd's bookkeeping costs more than the arithmetic. So do CNN children on CPU
  ([`hpenv.children.CNNTrainStep`][], ordinary convolutions child by child); on CUDA they
  run as grouped convolutions with autograd.
* Batches are gathered from tensors that stay on the device: no DataLoader.
* Nothing is copied to the host inside the SGD loop; losses are written to a preallocated
  ``(steps, K)`` tensor and read once per action.

Randomness: each child has its own ``torch.Generator`` (initial weights, batch order, dropout
masks), and draws for child k never depend on the other children, which is what makes child i
of a vector env equal to a single env seeded the same way.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from hpenv.children import CNNFamily, MLPFamily
from hpenv.tasks import Task

#: Examples per chunk when evaluating on a whole split (bounds memory for image tasks).
EVAL_CHUNK = 1024


@dataclass
class Evaluation:
    """Per-child statistics of the final layer on one split (tensors of shape ``(K,)``)."""

    accuracy: Tensor
    loss: Tensor
    logit_mean: Tensor
    logit_std: Tensor
    max_prob: Tensor
    entropy: Tensor


class NesterovSGD:
    """SGD with Nesterov momentum (PyTorch's formulation), one learning rate, momentum and weight
    decay per child, for one SGD step of K children.

    The parameters are updated in *groups*: parameters of one region (see
    [`ChildKernel`][hpenv.training.ChildKernel]) with the same number of elements, as ``(j, m, size)`` views
    of the weight, momentum and gradient buffers, where the m rows are the children that train them. Each
    group takes three operations with one learning rate, momentum and weight decay per row. When every row of
    every group trains with one shared tuple (always so for a single env), the update is three
    operations on the flat buffers instead. Rows that do not train (children that skipped a
    block, inactive children) keep their weights *and* momentum, as PyTorch's SGD skips a
    parameter without a gradient.

    Trainers hand each parameter's gradient over with ``sgd(name, grad)``, having written it
    into ``sgd.out(name)``, the contiguous leading rows of its gradient block.

    Args:
        groups: per group, its weight, momentum and gradient views ``(j, m, size)``.
        out: each trained parameter's gradient rows (a view into the gradient buffer).
        learning_rate: per-child values for the first n rows.
        momentum: per-child values for the first n rows.
        weight_decay: per-child values for the first n rows.
        flat: weights, momentum and gradient as flat views covering every group, when all of
            their rows train.
    """

    def __init__(self, groups: list[tuple[Tensor, Tensor, Tensor]], out: dict[str, Tensor],
                 learning_rate: np.ndarray, momentum: np.ndarray, weight_decay: np.ndarray,
                 flat: tuple[Tensor, Tensor, Tensor] | None = None):
        device = groups[0][0].device

        def coefficient(values: np.ndarray) -> Tensor | float:
            if np.all(values == values[0]):  # a float is cheaper than a broadcast tensor
                return float(values[0])
            return torch.as_tensor(values, dtype=torch.float32, device=device).unsqueeze(1)

        lr, mu, wd = coefficient(learning_rate), coefficient(momentum), coefficient(weight_decay)
        coefficients = (mu, -lr, -lr * mu, wd)
        if flat is not None and all(isinstance(c, float) for c in coefficients):
            self.updates = [(*flat, *coefficients)]
        else:
            self.updates = [(w, buf, g, *(c if isinstance(c, float) else c[:w.shape[1]] for c in coefficients))
                            for w, buf, g in groups]
        self.groups, self._out = groups, out

    def out(self, name: str) -> Tensor:
        """Where the trainer writes ``name``'s gradient."""
        return self._out[name]

    @torch.no_grad()
    def __call__(self, name: str, grad: Tensor) -> None:
        dest = self._out[name]
        if grad.data_ptr() != dest.data_ptr():  # not written in place through out()
            dest.copy_(grad)

    def squared_norm(self, n: int) -> Tensor:
        """Per child, the squared norm of the gradient handed over in this step."""
        norm = self.groups[0][2].new_zeros(n)
        for _, _, g in self.groups:
            norm[:g.shape[1]] += g.square().sum((0, 2))
        return norm

    @torch.no_grad()
    def step(self) -> None:
        """``g += wd * w``; ``buf = mu * buf + g``; ``w -= lr * g + lr * mu * buf`` on the rows that train."""
        for w, buf, grad, mu, neg_lr, neg_lr_mu, wd in self.updates:
            if isinstance(wd, Tensor):
                grad = grad.addcmul(w, wd)
            elif wd != 0.0:
                grad = grad.add(w, alpha=wd)
            if isinstance(mu, Tensor):
                torch.addcmul(grad, buf, mu, out=buf)
            else:
                torch.add(grad, buf, alpha=mu, out=buf)
            for t, scale in ((grad, neg_lr), (buf, neg_lr_mu)):
                if isinstance(scale, Tensor):
                    w.addcmul_(t, scale)
                else:
                    w.add_(t, alpha=scale)


class ChildKernel:
    """Weights, optimiser state, data and random streams of K children.

    Args:
        family: the child family (architecture) all K children share.
        num_children: K.
        device: where weights and data live.
    """

    def __init__(self, family: MLPFamily | CNNFamily, num_children: int, device: torch.device):
        self.family, self.K, self.device = family, num_children, torch.device(device)
        K, dev = num_children, self.device
        # Storage is parameter-major: each parameter is a (K, *shape) block holding every child's
        # copy, so a trainer writes the gradient of the children that used it straight into the
        # leading rows. Parameters are grouped into regions, the stem and head, then one per
        # residual block: a child of depth d trains regions 0..d, a prefix of the buffer.
        # Within a region, parameters of equal size are adjacent: the SGD update takes each such
        # group as one (j, K, size) view.
        self._members: list[list] = [[] for _ in range(family.max_depth + 1)]
        for spec in family.param_specs:
            self._members[0 if spec.block is None else spec.block + 1].append(spec)
        self._groups: list[list[tuple[int, int, int]]] = []  # per region: (offset, j, size)
        self._region_end: list[int] = []
        offset = 0
        for r, specs in enumerate(self._members):
            self._members[r] = specs = sorted(specs, key=lambda s: -math.prod(s.shape))
            self._groups.append([])
            for size, run in itertools.groupby(math.prod(s.shape) for s in specs):
                j = len(list(run))
                self._groups[r].append((offset, j, size))
                offset += j * K * size
            self._region_end.append(offset)
        # weights and momentum in child order: what episodes, evaluation and users see
        self.flat = torch.zeros(self._region_end[-1], device=dev)
        self.momentum_buf = torch.zeros_like(self.flat)
        # Training reorders the children into "slots": active children first, deepest first, so
        # that the children running block i are leading rows. A copy in slot order (the work
        # buffers) is made per action when that order is not the identity.
        self._allocate()
        self._epoch_order: list[Tensor | None] = [None] * K
        self._epoch_pos = [0] * K
        self.depth = np.full(K, family.max_depth, dtype=np.int64)
        self.tasks: list[Task | None] = [None] * K

    # ------------------------------------------------------------------ pickling
    # Pickle would save every view as a tensor of its own, duplicating the buffers and breaking
    # the link between the update and the weights. Keep the owning buffers, the generators'
    # states and the task list; rebuild the views, the scratch space and the device data.
    _DERIVED = ("params", "_bufs", "_work", "_work_buf", "_grad", "_work_params", "_work_bufs", "_grads",
                "generators", "x_train", "y_train", "_eval_data", "_eval_sizes", "_shared", "_eval_shared",
                "num_train")

    def __getstate__(self) -> dict:
        state = {k: v for k, v in self.__dict__.items() if k not in self._DERIVED}
        state["generator_states"] = [g.get_state() for g in self.generators]
        return state

    def __setstate__(self, state: dict) -> None:
        generator_states = state.pop("generator_states")
        self.__dict__.update(state)
        self._allocate()
        for g, s in zip(self.generators, generator_states):
            g.set_state(s)
        if all(t is not None for t in self.tasks):
            self.set_tasks(self.tasks)

    def _allocate(self) -> None:
        """The views of the weight and momentum buffers, scratch buffers and the generators."""
        self._work, self._work_buf = torch.zeros_like(self.flat), torch.zeros_like(self.flat)
        self._grad = torch.zeros_like(self.flat)
        self.params, self._bufs = self._views(self.flat), self._views(self.momentum_buf)
        self._work_params, self._work_bufs = self._views(self._work), self._views(self._work_buf)
        self._grads = self._views(self._grad)
        self.generators = [torch.Generator(device=self.device) for _ in range(self.K)]

    def _views(self, buffer: Tensor) -> dict[str, Tensor]:
        """Each parameter as a contiguous ``(K, *shape)`` view of ``buffer``, in storage order."""
        views, offset = {}, 0
        for specs in self._members:
            for spec in specs:
                size = self.K * math.prod(spec.shape)
                views[spec.name] = buffer[offset:offset + size].view(self.K, *spec.shape)
                offset += size
        return views

    def child_momentum(self, k: int) -> Tensor:
        """Child ``k``'s momentum buffers, flattened parameter by parameter (a copy)."""
        return torch.cat([v[k].reshape(-1) for v in self._bufs.values()])

    # ------------------------------------------------------------------ data
    def set_tasks(self, tasks: list[Task]) -> None:
        """Put each child's task on the device. Data that children share is stored once.

        The tasks must share the input shape and the number of classes; their splits may differ
        in size. Each split is then padded with zero rows to the batch's largest, and every child
        keeps its own sizes: it draws training indices from its own examples only and its
        evaluation reduces over its own rows only, so its numbers never depend on the others'.
        Training and evaluation data are shared separately: children in different phases of one
        stream ([`hpenv.streams.StreamTask`][]) train on their own data and evaluate together.
        A child whose training examples change starts a fresh epoch of them.
        """
        previous = self.tasks
        self.tasks = list(tasks)
        flatten = isinstance(self.family, MLPFamily)
        for what, values in (("input shape", [(math.prod(t.input_shape),) if flatten else t.input_shape
                                              for t in tasks]),
                             ("number of classes", [t.num_classes for t in tasks])):
            if len(set(values)) > 1:  # children train in one batch of one architecture
                raise ValueError(f"the children's tasks must have one {what} to train in one batch, but they have "
                                 f"{sorted(set(values))} (tasks {sorted({t.name for t in tasks})}); use one env per "
                                 "task, or K=1")

        def same(attrs: tuple[str, ...]) -> bool:
            return all(getattr(t, a) is getattr(tasks[0], a) for t in tasks for a in attrs)

        def stack(attr: str, shared: bool) -> tuple[Tensor, list[int] | None]:
            """The split's tensors stacked, and each child's size where the sizes differ (else None)."""
            xs = [getattr(t, attr) for t in (tasks[:1] if shared else tasks)]
            xs = [x.reshape(len(x), -1) if flatten and x.dim() > 2 else x for x in xs]
            sizes = [len(x) for x in xs]
            if len(set(sizes)) == 1:
                return torch.stack(xs).to(self.device), None
            padded = xs[0].new_zeros((len(xs), max(sizes), *xs[0].shape[1:]))
            for row, x in zip(padded, xs):
                row[:len(x)] = x
            return padded.to(self.device), sizes

        self._shared = same(("x_train", "y_train"))
        self._eval_shared = same(("x_val", "y_val", "x_test", "y_test"))
        (self.x_train, train_sizes), (self.y_train, _) = (stack(a, self._shared) for a in ("x_train", "y_train"))
        self._eval_data, self._eval_sizes = {}, {}
        for split in ("val", "test"):
            (x, sizes), (y, _) = (stack(f"{a}_{split}", self._eval_shared) for a in ("x", "y"))
            self._eval_data[split] = (x, y)
            # a ragged split evaluates with a mask of each child's rows and its own count
            self._eval_sizes[split] = None if sizes is None else (
                torch.arange(x.shape[1], device=self.device) < torch.tensor(sizes, device=self.device).unsqueeze(1),
                torch.tensor(sizes, dtype=torch.float32, device=self.device))
        self.num_train = [self.x_train.shape[1]] * self.K if train_sizes is None else train_sizes
        for k, (old, new) in enumerate(zip(previous, self.tasks)):
            if old is not None and old.x_train is not new.x_train:
                self._epoch_order[k], self._epoch_pos[k] = None, 0

    # ------------------------------------------------------------------ episodes
    def reset_children(self, children: list[int], seeds: list[int]) -> None:
        """Fresh weights and optimiser state for ``children``, from their seeds."""
        for k, seed in zip(children, seeds):
            g = self.generators[k]
            g.manual_seed(int(seed))
            self.family.init_child(self.params, k, g)
            self._epoch_order[k], self._epoch_pos[k] = None, 0
            self.depth[k] = self.family.max_depth
        rows = torch.as_tensor(children, device=self.device)
        with torch.no_grad():
            for buf in self._bufs.values():
                buf.index_fill_(0, rows, 0.0)

    @torch.no_grad()
    def copy_child(self, src: int, dst: int) -> None:
        """Make child ``dst`` a copy of child ``src``: weights, momentum buffers and active depth.

        ``dst`` keeps its own random generator and data stream (batch order, dropout masks), as
        population-based training wants: the exploited child continues from the copied weights
        but sees its own batches.
        """
        if src == dst:
            return
        for view in (*self.params.values(), *self._bufs.values()):
            view[dst].copy_(view[src])
        self.depth[dst] = self.depth[src]

    def child_state(self, k: int) -> dict[str, Tensor]:
        """Child ``k``'s whole state as CPU tensors (``torch.load(..., weights_only=True)`` reads
        it back): weights, momentum, depth, random generator and place in its epoch."""
        order = self._epoch_order[k]
        return {
            "weights": torch.cat([v[k].reshape(-1) for v in self.params.values()]).cpu(),
            "momentum": self.child_momentum(k).cpu(),
            "depth": torch.tensor(int(self.depth[k])),
            "generator": self.generators[k].get_state(),
            "epoch_order": torch.empty(0, dtype=torch.long) if order is None else order.cpu(),
            "epoch_pos": torch.tensor(int(self._epoch_pos[k])),
        }

    @torch.no_grad()
    def load_child_state(self, k: int, state: dict[str, Tensor]) -> None:
        """Child ``k`` continues exactly from a [`child_state`][hpenv.training.ChildKernel.child_state] of the
        same child family."""
        expected = sum(view[k].numel() for view in self.params.values())
        for name in ("weights", "momentum"):
            if state[name].numel() != expected:
                raise ValueError(f"state[{name!r}] holds {state[name].numel()} values; this child family has {expected}")
        for name, views in (("weights", self.params), ("momentum", self._bufs)):
            flat, offset = state[name].to(self.device), 0
            for view in views.values():
                size = view[k].numel()
                view[k].copy_(flat[offset:offset + size].view_as(view[k]))
                offset += size
        self.depth[k] = int(state["depth"])
        self.generators[k].set_state(state["generator"])
        order = state["epoch_order"]
        self._epoch_order[k] = order.to(self.device) if order.numel() else None
        self._epoch_pos[k] = int(state["epoch_pos"])

    def _next_indices(self, k: int, n: int) -> Tensor:
        """``n`` training indices for child ``k``: shuffled epochs of its own examples, reshuffled when used up."""
        out, need, num_train = [], n, self.num_train[k]
        while need > 0:
            if self._epoch_order[k] is None or self._epoch_pos[k] >= num_train:
                self._epoch_order[k] = torch.randperm(
                    num_train, generator=self.generators[k], device=self.device)
                self._epoch_pos[k] = 0
            take = min(need, num_train - self._epoch_pos[k])
            out.append(self._epoch_order[k][self._epoch_pos[k]:self._epoch_pos[k] + take])
            self._epoch_pos[k] += take
            need -= take
        return out[0] if len(out) == 1 else torch.cat(out)

    # ------------------------------------------------------------------ training
    @torch.no_grad()
    def _to_slots(self, perm: Tensor) -> None:
        """Copy weights and momentum into slot order: slot j holds child ``perm[j]``."""
        for a, b in self._slot_pairs():
            torch.index_select(a, 0, perm, out=b)

    @torch.no_grad()
    def _from_slots(self, perm: Tensor) -> None:
        for a, b in self._slot_pairs():
            a.index_copy_(0, perm, b)

    def _slot_pairs(self):
        """(child-order view, slot-order view) of every parameter's weights and momentum."""
        return zip((*self.params.values(), *self._bufs.values()),
                   (*self._work_params.values(), *self._work_bufs.values()))

    def _dropout_mask(self, k: int, out: Tensor, p: float) -> None:
        """Writes a scaled dropout mask from child ``k``'s generator: each unit kept with probability 1 - p.

        Each unit takes 16 random bits (four units per 64-bit draw, a quarter of the draws of
        ``torch.rand``), so the drop probability is ``p`` rounded to a multiple of 2**-16.
        """
        numel = out.numel()
        words = torch.empty((numel + 3) // 4, dtype=torch.int64, device=self.device)
        words.random_(-2**63, None, generator=self.generators[k])  # the full 64-bit range
        dropped = round(p * 65536)
        keep = words.view(torch.int16)[:numel].view(out.shape) >= dropped - 32768
        torch.mul(keep, 65536 / (65536 - dropped), out=out)

    def _optimiser(self, w: Tensor, buf: Tensor, rows: list[int], learning_rate: np.ndarray,
                   momentum: np.ndarray, weight_decay: np.ndarray) -> NesterovSGD:
        """The update of one action: region r trains its first ``rows[r]`` rows (slot order)."""
        K = self.K
        groups = []
        for region, m in zip(self._groups, rows):
            for offset, j, size in region:
                span = slice(offset, offset + j * K * size)
                groups.append(tuple(t[span].view(j, K, size)[:, :m] for t in (w, buf, self._grad)))
        out = {spec.name: self._grads[spec.name][:m] for specs, m in zip(self._members, rows) for spec in specs}
        flat = None
        if all(m == K for m in rows):  # every row of every group trains
            end = self._region_end[len(rows) - 1]
            flat = (w[:end], buf[:end], self._grad[:end])
        return NesterovSGD(groups, out, learning_rate, momentum, weight_decay, flat=flat)

    def train(self, hp: dict[str, np.ndarray], steps: int, active: np.ndarray) -> tuple[Tensor, Tensor]:
        """Train the children for ``steps`` SGD steps with per-child hyper-parameters ``hp``.

        Args:
            hp: arrays of shape ``(K,)`` for ``depth``, ``dropout``, ``learning_rate``,
                ``momentum``, ``weight_decay`` and ``batch_size``.
            steps: SGD steps.
            active: ``(K,)`` bools; inactive children draw no random numbers and keep their weights.

        Returns:
            losses: ``(steps, K)``, the training loss of every step (0 for inactive children).
            grad_norm: ``(K,)``, the gradient norm of the last step.
        """
        K, dev = self.K, self.device
        self.depth = np.where(active, hp["depth"], self.depth).astype(np.int64)
        # Slot j holds child order[j]: active children first, deepest first (ties by index).
        order = np.lexsort((np.arange(K), -self.depth, ~active))
        n = int(active.sum())
        children = order[:n]
        depth = self.depth[children]
        counts = [int(np.sum(depth > i)) for i in range(int(depth.max()))]
        perm = None if np.array_equal(order, np.arange(K)) else torch.as_tensor(order, device=dev)
        if perm is not None:
            self._to_slots(perm)
        if perm is None:
            w, buf, params = self.flat, self.momentum_buf, self.params
        else:
            w, buf, params = self._work, self._work_buf, self._work_params
        coefficients = (hp[name][children] for name in ("learning_rate", "momentum", "weight_decay"))
        sgd = self._optimiser(w, buf, [n, *counts], *coefficients)

        batch = hp["batch_size"][children].astype(np.int64)
        b_max = int(batch.max())
        drop_p = hp["dropout"][children]
        idx = torch.zeros(steps, n, b_max, dtype=torch.long, device=dev)
        weights = None if np.all(batch == b_max) else torch.zeros(steps, n, b_max, device=dev)
        drops = None
        if np.any(drop_p > 0):  # rows no mask covers are set to 1 below; unused blocks stay unset
            drops = torch.empty(steps, len(counts), n, b_max, self.family.hidden_shape, device=dev)
        for j, k in enumerate(children):
            b, d = int(batch[j]), int(depth[j])
            idx[:, j, :b] = self._next_indices(k, steps * b).view(steps, b)
            if weights is not None:
                weights[:, j, :b] = 1.0 / b
            if drop_p[j] > 0:
                self._dropout_mask(k, drops[:, :d, j, :b], drop_p[j])
                drops[:, :d, j, b:] = 1.0
            elif drops is not None:
                drops[:, :d, j] = 1.0

        step = self.family.trainer(params, counts, n, sgd)
        block_drops = None if drops is None else [drops[:, i, :m] for i, m in enumerate(counts)]
        losses = torch.zeros(steps, K, device=dev)
        grad_norm = torch.zeros(K, device=dev)
        task_rows = None if self._shared else torch.as_tensor(children, device=dev).unsqueeze(1)
        for s in range(steps):
            if task_rows is None:  # one task for all: a plain gather of examples
                flat_idx = idx[s].view(-1)
                x = self.x_train[0].index_select(0, flat_idx).view(n, b_max, *self.x_train.shape[2:])
                y = self.y_train[0].index_select(0, flat_idx).view(n, b_max)
            else:
                x, y = self.x_train[task_rows, idx[s]], self.y_train[task_rows, idx[s]]
            losses[s, :n] = step(x, y, None if drops is None else [d[s] for d in block_drops],
                                 None if weights is None else weights[s])
            if s == steps - 1:  # the observation's gradient norm: of the last step
                grad_norm[:n] = sgd.squared_norm(n).sqrt()
            sgd.step()
        if perm is not None:
            self._from_slots(perm)
        inverse = torch.as_tensor(np.argsort(order), device=dev)
        return losses[:, inverse], grad_norm[inverse]

    # ------------------------------------------------------------------ evaluation
    def _active_blocks(self, n_blocks: int) -> list[Tensor | None]:
        """Per block: None when every child runs it, else the indices of the children that do."""
        return [None if np.all(self.depth > i) else
                torch.as_tensor(np.flatnonzero(self.depth > i), device=self.device)
                for i in range(n_blocks)]

    @torch.no_grad()
    def evaluate(self, split: str) -> Evaluation:
        """Final-layer statistics of every child on the whole ``split`` ("val" or "test").

        Where the children's splits differ in size, each child's statistics reduce over its own
        rows only: accuracy is its count of correct rows over its size, the rest are means.
        """
        x_all, y_all = self._eval_data[split]
        ragged = self._eval_sizes[split]
        blocks = self._active_blocks(int(self.depth.max()))
        parts = []
        for start in range(0, x_all.shape[1], EVAL_CHUNK):
            x = x_all[:, start:start + EVAL_CHUNK]
            y = y_all[:, start:start + EVAL_CHUNK]
            logits = self.family.forward(self.params, x[0] if self._eval_shared else x, blocks)
            y = y.expand(self.K, -1)
            logp = torch.log_softmax(logits, -1)
            probs = logp.exp()
            per_row = [
                (logits.argmax(-1) == y).float(),
                -logp.gather(-1, y.unsqueeze(-1)).squeeze(-1),
                logits.mean(-1),
                logits.std(-1) if logits.shape[-1] > 1 else torch.zeros_like(logits[..., 0]),
                probs.max(-1).values,
                -(probs * logp).nan_to_num().sum(-1),
            ]
            if ragged is not None:  # where, not a product: a padded row's inf or NaN must not leak in
                valid = ragged[0][:, start:start + EVAL_CHUNK]
                per_row = [torch.where(valid, r, 0.0) for r in per_row]
            parts.append(torch.stack([r.sum(1) for r in per_row]))
        stats = torch.stack(parts).sum(0) / (x_all.shape[1] if ragged is None else ragged[1])
        return Evaluation(*stats)
