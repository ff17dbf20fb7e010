"""Child SGD steps per second: K single envs in a loop vs SyncVectorEnv vs the native vector env.

Every configuration trains K children with the same per-child actions (a mix of depths,
dropouts and learning rates) on the default task. A fourth reference, "PyTorch loop", trains K
ordinary ``nn.Module`` children with ``torch.optim.SGD`` one after the other, as a researcher
would write it by hand (``benchmarks/env_overhead.py``'s loop). Methods run interleaved, one env
step each per round, so machine noise hits them alike; each method's median is kept, and the
ratios are those of the medians. Also prints the achieved GFLOP/s (forward + backward of the
training batches, counted analytically) beside the machine's large-matmul GFLOP/s, and the
native env's peak memory at the largest K (measured in a fresh subprocess).

    python benchmarks/env_throughput.py                       # K = 1, 4, 16, 64 on CPU
    python benchmarks/env_throughput.py --device cuda --sizes 1,16,64,256,1024 --skip-loops
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import gymnasium as gym
import numpy as np
import torch

import hpenv  # noqa: F401
from env_overhead import reference_child, reference_data, reference_loop


def actions_for(K: int, nvec: np.ndarray) -> np.ndarray:
    """Fixed, varied, non-diverging actions: depth and dropout vary; lr <= 0.1, momentum <= 0.9."""
    rng = np.random.default_rng(0)
    a = np.stack([rng.integers(0, n, size=K) for n in nvec], axis=1)
    a[:, 2] = np.minimum(a[:, 2], 4)
    a[:, 3] = np.minimum(a[:, 3], 2)
    return a


def train_flops(actions: np.ndarray, space, family, steps: int, batch: int) -> float:
    """Multiply-adds x 2 x 3 (forward + backward) of the training batches of one env step."""
    values = space.values_of(actions)
    d, w, c = family.in_features, family.width, family.num_classes
    per_example = 2 * (d * w + values["depth"] * 2 * w * w + w * c)
    return float(np.sum(per_example) * 3 * batch * steps)


def matmul_gflops(device: str, n: int = 2048, reps: int = 10) -> float:
    a = torch.randn(n, n, device=device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    for _ in range(2):
        a @ a
    times = []
    for _ in range(reps):
        sync(); t0 = time.perf_counter(); a @ a; sync()
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / statistics.median(times) / 1e9


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
    data = reference_data(env, device)
    children = [(*reference_child(env, k, env.hp_space.decode(a), device), torch.Generator(device=device).manual_seed(k))
                for k, a in enumerate(actions)]
    return lambda: [reference_loop(m, o, *data, steps, 32, g) for m, o, g in children]


def peak_memory(K: int, device: str, steps: int) -> dict:
    """Peak memory of a fresh process that builds the native env at K and runs two steps."""
    code = f"""
import json, numpy as np, gymnasium as gym, torch, hpenv
def hwm_mb():  # peak resident memory of this process (ru_maxrss would include the parent's, from fork)
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) / 1024
base = hwm_mb()
env = gym.make_vec("HPTune-v1", num_envs={K}, device={device!r}, steps_per_action={steps}, horizon=10**6)
env.reset(seed=0)
a = np.zeros(({K}, len(env.single_action_space.nvec)), dtype=np.int64); a[:, 1] = 1; a[:, 2] = 3
for _ in range(2): env.step(a)
out = {{"rss_peak_mb": hwm_mb(), "rss_after_imports_mb": base}}
if {device!r}.startswith("cuda"): out["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
print(json.dumps(out))
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1,4,16,64")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps-per-action", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=5, help="timed env steps per configuration")
    ap.add_argument("--skip-loops", action="store_true", help="only the native vector env (large K)")
    ap.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = [int(s) for s in args.sizes.split(",")]
    kw = dict(device=args.device, steps_per_action=args.steps_per_action, horizon=10**6)
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)

    peak = matmul_gflops(args.device)
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; large matmul (2048^2): {peak:.1f} GFLOP/s; steps_per_action={args.steps_per_action}")
    print(f"{'K':>5} {'method':<16} {'SGD steps/s':>12} {'GFLOP/s':>9} {'% matmul':>9} {'vs sync':>8}")
    for K in sizes:
        native = gym.make_vec("HPTune-v1", num_envs=K, **kw)
        native.reset(seed=0)
        space, family = native.hp_space, native._episodes.family
        acts = actions_for(K, space.nvec)
        flops = train_flops(acts, space, family, args.steps_per_action, 32)
        methods = {"native vector": lambda: native.step(acts)}
        if not args.skip_loops:
            singles = [gym.make("HPTune-v1", **kw) for _ in range(K)]
            for i, e in enumerate(singles):
                e.reset(seed=i)
            sync_env = gym.make_vec("HPTune-v1", num_envs=K, vectorization_mode="sync", **kw)
            sync_env.reset(seed=0)
            methods = {"PyTorch loop": pytorch_loops(native, acts, args.steps_per_action, args.device),
                       "single loop": lambda: [e.step(a) for e, a in zip(singles, acts)],
                       "SyncVectorEnv": lambda: sync_env.step(acts), **methods}
        results = time_interleaved(methods, args.rounds, sync)
        for m, t in results.items():
            ratio = results["SyncVectorEnv"] / t if "SyncVectorEnv" in results else float("nan")
            sps = K * args.steps_per_action / t
            print(f"{K:>5} {m:<16} {sps:>12.0f} {flops / t / 1e9:>9.2f} {100 * flops / t / 1e9 / peak:>8.1f}% {ratio:>7.2f}x")
    mem = peak_memory(max(sizes), args.device, args.steps_per_action)
    print(f"native vector env at K={max(sizes)}: " + ", ".join(f"{k}={v:.0f}" for k, v in mem.items()))


if __name__ == "__main__":
    main()
