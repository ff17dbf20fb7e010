"""The one training kernel: K children, each with its own hyper-parameters, trained in one pass.

The single env runs it at K=1 and the vector env at K=num_envs, so both produce the same
numbers from the same code. Design choices, each for speed:

* All weights of all children live in one flat buffer; each parameter is a contiguous view
  ``(K, *shape)`` of it, and so is its gradient. The SGD + Nesterov update is then five tensor
  operations on the whole buffer, whatever the number of parameters or children, with each
  child's learning rate, momentum and weight decay expanded to per-element vectors once per
  action (not once per SGD step).
* Batches are gathered from tensors that stay on the device: no DataLoader.
* Nothing is copied to the host inside the SGD loop; losses are written to a preallocated
  ``(steps, K)`` tensor and read once per action.

Randomness: each child has its own ``torch.Generator`` (initial weights, batch order, dropout
masks), and draws for child k never depend on the other children, which is what makes child i
of a vector env equal to a single env seeded the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
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


class ChildKernel:
    """Weights, optimiser state, data and random streams of K children.

    Args:
        family: the child family (architecture) all K children share.
        num_children: K.
        device: where weights and data live.
    """

    def __init__(self, family: MLPFamily | CNNFamily, num_children: int, device: torch.device):
        self.family, self.K, self.device = family, num_children, torch.device(device)
        K = num_children
        sizes = [K * math.prod(spec.shape) for spec in family.param_specs]
        total = sum(sizes)
        self.flat = torch.zeros(total, device=self.device)
        self.grad = torch.zeros(total, device=self.device)
        self.momentum_buf = torch.zeros(total, device=self.device)
        self.params: dict[str, Tensor] = {}
        owner = []  # which child each element belongs to, to expand per-child values
        block = []  # which residual block each element belongs to (-1: stem, head)
        offset = 0
        for spec, size in zip(family.param_specs, sizes):
            view = self.flat[offset:offset + size].view(K, *spec.shape)
            view.requires_grad_(True)
            view.grad = self.grad[offset:offset + size].view(K, *spec.shape)
            self.params[spec.name] = view
            owner.append(torch.arange(K, device=self.device).repeat_interleave(size // K))
            block.append(torch.full((size,), -1 if spec.block is None else spec.block, device=self.device))
            offset += size
        self._owner = torch.cat(owner)
        self._block = torch.cat(block)
        self.generators = [torch.Generator(device=self.device) for _ in range(K)]
        self._epoch_order: list[Tensor | None] = [None] * K
        self._epoch_pos = [0] * K
        self.depth = np.full(K, family.max_depth, dtype=np.int64)
        self._task_rows = None
        self.tasks: list[Task | None] = [None] * K

    # ------------------------------------------------------------------ data
    def set_tasks(self, tasks: list[Task]) -> None:
        """Put each child's task on the device. One shared task is stored once."""
        self.tasks = list(tasks)
        shared = all(t is tasks[0] for t in tasks)
        distinct = [tasks[0]] if shared else tasks
        flatten = isinstance(self.family, MLPFamily)

        def stack(attr):
            xs = [getattr(t, attr) for t in distinct]
            xs = [x.reshape(len(x), -1) if flatten and x.dim() > 2 else x for x in xs]
            return torch.stack(xs).to(self.device)

        self.x_train, self.y_train = stack("x_train"), stack("y_train")
        self._eval_data = {
            split: (stack(f"x_{split}"), stack(f"y_{split}")) for split in ("val", "test")
        }
        self._shared = shared
        self._task_rows = torch.zeros(self.K, 1, dtype=torch.long, device=self.device) if shared \
            else torch.arange(self.K, device=self.device).unsqueeze(1)
        self.num_train = self.x_train.shape[1]

    # ------------------------------------------------------------------ episodes
    def reset_children(self, children: list[int], seeds: list[int]) -> None:
        """Fresh weights and optimiser state for ``children``, from their seeds."""
        for k, seed in zip(children, seeds):
            g = self.generators[k]
            g.manual_seed(int(seed))
            self.family.init_child(self.params, k, g)
            self._epoch_order[k], self._epoch_pos[k] = None, 0
            self.depth[k] = self.family.max_depth
        with torch.no_grad():
            mask = torch.zeros(self.K, dtype=torch.bool, device=self.device)
            mask[children] = True
            self.momentum_buf[mask[self._owner]] = 0.0

    @torch.no_grad()
    def copy_child(self, src: int, dst: int) -> None:
        """Make child ``dst`` a copy of child ``src``: weights, momentum buffers and active depth.

        ``dst`` keeps its own random generator and data stream (batch order, dropout masks), as
        population-based training wants: the exploited child continues from the copied weights
        but sees its own batches.
        """
        if src == dst:
            return
        for p in self.params.values():
            p.data[dst].copy_(p.data[src])
        src_rows, dst_rows = self._owner == src, self._owner == dst
        self.momentum_buf[dst_rows] = self.momentum_buf[src_rows]
        self.depth[dst] = self.depth[src]

    def _next_indices(self, k: int, n: int) -> Tensor:
        """``n`` training indices for child ``k``: shuffled epochs, reshuffled when used up."""
        out, need = [], n
        while need > 0:
            if self._epoch_order[k] is None or self._epoch_pos[k] >= self.num_train:
                self._epoch_order[k] = torch.randperm(
                    self.num_train, generator=self.generators[k], device=self.device)
                self._epoch_pos[k] = 0
            take = min(need, self.num_train - self._epoch_pos[k])
            out.append(self._epoch_order[k][self._epoch_pos[k]:self._epoch_pos[k] + take])
            self._epoch_pos[k] += take
            need -= take
        return out[0] if len(out) == 1 else torch.cat(out)

    # ------------------------------------------------------------------ training
    def _per_element(self, values: np.ndarray, frozen: Tensor | None = None,
                     frozen_value: float = 0.0) -> Tensor | float:
        """A per-child value as a scalar when all children share it, else one value per element.

        Elements in ``frozen`` (blocks switched off by depth) take ``frozen_value`` instead.
        """
        if frozen is None and np.all(values == values[0]):
            return float(values[0])
        out = torch.as_tensor(values, dtype=torch.float32, device=self.device)[self._owner]
        return out if frozen is None else out.masked_fill(frozen, frozen_value)

    def _frozen(self) -> Tensor | None:
        """Elements of blocks at or above their child's depth, or None when every block is on.

        A switched-off block must keep its weights *and* its momentum buffer, as PyTorch's SGD
        skips a parameter without a gradient: otherwise momentum (and weight decay) built up
        while it was on would keep moving it.
        """
        if np.all(self.depth >= self.family.max_depth):
            return None
        depth = torch.as_tensor(self.depth, device=self.device)[self._owner]
        return self._block >= depth

    def _active_blocks(self, n_blocks: int) -> list[Tensor | None]:
        """Per block: None when every child runs it, else the indices of the children that do."""
        return [None if np.all(self.depth > i) else
                torch.as_tensor(np.flatnonzero(self.depth > i), device=self.device)
                for i in range(n_blocks)]

    def train(self, hp: dict[str, np.ndarray], steps: int, active: np.ndarray) -> tuple[Tensor, Tensor]:
        """Train the children for ``steps`` SGD steps with per-child hyper-parameters ``hp``.

        Args:
            hp: arrays of shape ``(K,)`` for ``depth``, ``dropout``, ``learning_rate``,
                ``momentum``, ``weight_decay`` and ``batch_size``.
            steps: SGD steps.
            active: ``(K,)`` bools; inactive children draw no random numbers and keep their weights.

        Returns:
            losses ``(steps, K)`` (training loss of every step) and the gradient norm ``(K,)`` of
            the last step.
        """
        K, dev = self.K, self.device
        self.depth = np.where(active, hp["depth"], self.depth).astype(np.int64)
        frozen = self._frozen()  # switched-off blocks: no step (lr 0, wd 0), momentum kept (mu 1)
        lr = self._per_element(np.where(active, hp["learning_rate"], 0.0), frozen, 0.0)
        mu = self._per_element(hp["momentum"], frozen, 1.0)
        wd = self._per_element(hp["weight_decay"], frozen, 0.0)
        batch = hp["batch_size"].astype(np.int64)
        b_max = int(batch[active].max()) if active.any() else 1
        n_blocks = int(self.depth.max())

        idx = torch.zeros(steps, K, b_max, dtype=torch.long, device=dev)
        weights = None if np.all(batch[active] == b_max) else torch.zeros(steps, K, b_max, device=dev)
        drop_p = np.where(active, hp["dropout"], 0.0)
        drops = None
        if np.any(drop_p > 0):
            drops = torch.ones(steps, n_blocks, K, b_max, self.family.hidden_shape, device=dev)
        for k in np.flatnonzero(active):
            b = int(batch[k])
            idx[:, k, :b] = self._next_indices(k, steps * b).view(steps, b)
            if weights is not None:
                weights[:, k, :b] = 1.0 / b
            if drop_p[k] > 0:
                d = int(self.depth[k])
                u = torch.rand(steps, d, b, self.family.hidden_shape, generator=self.generators[k], device=dev)
                drops[:, :d, k, :b] = (u >= drop_p[k]).float() / (1.0 - drop_p[k])

        blocks = self._active_blocks(n_blocks)
        losses = torch.empty(steps, K, device=dev)
        rows = self._task_rows
        for s in range(steps):
            x, y = self.x_train[rows, idx[s]], self.y_train[rows, idx[s]]
            logits = self.family.forward(self.params, x, blocks, None if drops is None else drops[s])
            ce = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(K, b_max)
            loss = ce.mean(1) if weights is None else (ce * weights[s]).sum(1)
            losses[s] = loss.detach()
            self.grad.zero_()
            loss.sum().backward()
            if s == steps - 1:  # before _sgd_step, which turns the gradient into the update in place
                grad_norm = self._grad_norm()
            self._sgd_step(lr, mu, wd)
        return losses, grad_norm

    @torch.no_grad()
    def _sgd_step(self, lr, mu, wd) -> None:
        """SGD with Nesterov momentum (PyTorch's formulation), on every child at once."""
        # One pass over the buffers per line: at large K the update is memory-bound.
        g, buf, w = self.grad, self.momentum_buf, self.flat
        if isinstance(wd, Tensor):
            g.addcmul_(w, wd)
        elif wd != 0.0:
            g.add_(w, alpha=wd)
        if isinstance(mu, Tensor):
            torch.addcmul(g, buf, mu, out=buf)  # buf = mu * buf + g
            g.addcmul_(buf, mu)  # Nesterov: g + mu * buf
        else:
            torch.add(g, buf, alpha=mu, out=buf)
            g.add_(buf, alpha=mu)
        if isinstance(lr, Tensor):
            w.addcmul_(g, lr, value=-1.0)
        else:
            w.add_(g, alpha=-lr)

    def _grad_norm(self) -> Tensor:
        sq = torch.zeros(self.K, device=self.device)
        for p in self.params.values():
            sq += p.grad.reshape(self.K, -1).square().sum(1)
        return sq.sqrt()

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def evaluate(self, split: str) -> Evaluation:
        """Final-layer statistics of every child on the whole ``split`` ("val" or "test")."""
        x_all, y_all = self._eval_data[split]
        blocks = self._active_blocks(int(self.depth.max()))
        parts = []
        for start in range(0, x_all.shape[1], EVAL_CHUNK):
            x = x_all[:, start:start + EVAL_CHUNK]
            y = y_all[:, start:start + EVAL_CHUNK]
            logits = self.family.forward(self.params, x[0] if self._shared else x, blocks)
            y = y.expand(self.K, -1)
            logp = torch.log_softmax(logits, -1)
            probs = logp.exp()
            parts.append(torch.stack([
                (logits.argmax(-1) == y).float().sum(1),
                -logp.gather(-1, y.unsqueeze(-1)).squeeze(-1).sum(1),
                logits.mean(-1).sum(1),
                logits.std(-1).sum(1) if logits.shape[-1] > 1 else torch.zeros_like(logits[..., 0]).sum(1),
                probs.max(-1).values.sum(1),
                -(probs * logp).nan_to_num().sum(-1).sum(1),
            ]))
        stats = torch.stack(parts).sum(0) / x_all.shape[1]
        return Evaluation(*stats)
