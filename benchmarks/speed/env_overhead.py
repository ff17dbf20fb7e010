"""What does the environment cost on top of the training it performs?

Times ``env.step`` (50 SGD steps + validation + observation, by default) against a hand-written
PyTorch loop that trains the same child (same architecture, depth, dropout, optimiser, batch
size, data on the same device, no DataLoader) for the same number of batches and evaluates once
on the validation split. Both run interleaved in one process, so machine noise hits both alike;
the script prints the median of per-round ratios. Target: <= 1.10 on the default task.

    python benchmarks/speed/env_overhead.py [--task digits] [--rounds 30] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import time

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F

import hpenv


def reference_loop(model, opt, x_train, y_train, x_val, y_val, steps, batch_size, generator):
    """A plain training loop: shuffled batches from device tensors, SGD, one evaluation."""
    model.train()
    order = torch.randperm(len(y_train), generator=generator, device=x_train.device)
    pos = 0
    for _ in range(steps):
        if pos + batch_size > len(order):
            order = torch.randperm(len(y_train), generator=generator, device=x_train.device)
            pos = 0
        idx = order[pos:pos + batch_size]
        pos += batch_size
        loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        acc = (model(x_val).argmax(-1) == y_val).float().mean().item()
    return loss.item(), acc


def reference_child(model: torch.nn.Module, hp: dict):
    """A child as an ordinary module (``env.child``), with a ``torch.optim.SGD`` set to ``hp``."""
    model.depth, model.dropout = hp.get("depth", model.depth), hp.get("dropout", 0.0)
    momentum = hp.get("momentum", 0.9)
    opt = torch.optim.SGD(model.parameters(), lr=hp.get("learning_rate", 0.03), momentum=momentum,
                          nesterov=momentum > 0)
    return model, opt


def reference_data(task, family, device: str) -> tuple:
    """``task``'s training and validation split as device tensors, flattened for MLP children."""
    flat = family.kind == "mlp"
    to = lambda x: (x.reshape(len(x), -1) if flat else x).to(device)  # noqa: E731
    return to(task.x_train), task.y_train.to(device), to(task.x_val), task.y_val.to(device)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="digits")
    ap.add_argument("--rounds", type=int, default=30, help="timed env steps (and reference loops)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps-per-action", type=int, default=50)
    ap.add_argument("--action", default="2,1,3,2", help="indices into the default space (depth 3, dropout 0.1, lr 0.03, momentum 0.9)")
    ap.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    env = gym.make(hpenv.ENV_ID, task=args.task, device=args.device, steps_per_action=args.steps_per_action,
                   horizon=10**6).unwrapped
    env.reset(seed=0)
    action = np.array([int(a) for a in args.action.split(",")])
    hp = env.hp_space.decode(action)

    # the same child, as an ordinary module and optimiser
    model, opt = reference_child(env.child, hp)
    data = reference_data(env.task, env.family, args.device)
    gen = torch.Generator(device=args.device).manual_seed(0)
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)

    def time_env():
        sync(); t0 = time.perf_counter()
        env.step(action)
        sync(); return time.perf_counter() - t0

    def time_ref():
        sync(); t0 = time.perf_counter()
        reference_loop(model, opt, *data, args.steps_per_action, hp.get("batch_size", 32), gen)
        sync(); return time.perf_counter() - t0

    for _ in range(3):  # warm-up: allocator, kernels, caches
        time_env(); time_ref()
    ratios, t_env, t_ref = [], [], []
    for i in range(args.rounds):
        # alternate the order so neither side always runs on a "warmer" machine
        a, b = (time_env(), time_ref()) if i % 2 == 0 else tuple(reversed((time_ref(), time_env())))
        t_env.append(a); t_ref.append(b); ratios.append(a / b)
    print(f"task={args.task} device={args.device} steps_per_action={args.steps_per_action} "
          f"action={hp} threads={torch.get_num_threads()} rounds={args.rounds}")
    print(f"env.step        median {statistics.median(t_env) * 1e3:8.2f} ms")
    print(f"reference loop  median {statistics.median(t_ref) * 1e3:8.2f} ms")
    q = np.quantile(ratios, [0.25, 0.5, 0.75])
    print(f"ratio env/reference: median {q[1]:.3f} (IQR {q[0]:.3f}-{q[2]:.3f})  target <= 1.10")


if __name__ == "__main__":
    main()
