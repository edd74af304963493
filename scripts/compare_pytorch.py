#!/usr/bin/env python3
"""compare_pytorch.py: focal-ddp against PyTorch (1 and 2 threads, DDP/gloo on 2 processes) and,
if mpi4py is importable, NumPy + mpi4py on 2 ranks, on the same configurations in one run.

Runs focal-bench first (under mpirun at 1 and 2 ranks), then each Python contender in its own
process(es), and prints one table with samples/s (training loop only: data generation and model
construction excluded), peak memory per process and the ratios focal / other.

Installs nothing. PyTorch: `pip install torch` (the CPU-only build is enough); optional NumPy + mpi4py:
`pip install numpy mpi4py` (needs an MPI library, e.g. `apt-get install libopenmpi-dev openmpi-bin`).

Usage (from the repository root, after `swift build -c release --product focal-bench`):
    python3 scripts/compare_pytorch.py [--bench .build/release/focal-bench] [--configs large,tutorial]
                                       [--runs 3] [--skip focal,torch1,torch2,ddp,numpy]

The Python side uses random normal features of the same shapes and labels drawn with the same class
proportions (the data values do not change the cost of a dense step); the recipe is the same: an
MLP of Linear+ReLU layers (PyTorch's default init), the class-weighted focal loss of the tutorial
(alpha = 1 / (count / n), gamma 2, mean over rows), Adam (lr 1e-3), batches visited in order.
"""

import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import time

# MARK: - Configurations (the same as focal-bench's --config)

CONFIGS = {
    # The tutorial: 1000 x 20 (800 training rows), 2 classes 0.8/0.2, 20-64-2, full batch, 100 epochs.
    "tutorial": dict(train_rows=800, features=20, classes=2, weights=[0.8, 0.2], hidden=[64],
                     batch=800, epochs=100),
    # Issue 7's large configuration: 1,000,000 training rows x 64, 8 classes, 64-256-256-8,
    # batch 4096, one epoch.
    "large": dict(train_rows=1_000_000, features=64, classes=8,
                  weights=[0.5, 0.2, 0.1, 0.08, 0.05, 0.04, 0.02, 0.01], hidden=[256, 256],
                  batch=4096, epochs=1),
}


def flops_per_sample(cfg):
    """6 x sum(in*out) over the layers: forward 2 MACs, backward 4 MACs per weight (the
    convention used by focal-bench and docs/PERFORMANCE.md)."""
    widths = [cfg["features"]] + cfg["hidden"] + [cfg["classes"]]
    return 6 * sum(a * b for a, b in zip(widths[:-1], widths[1:]))


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def load_average():
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "?"


def make_data(cfg, rows, seed):
    """Random normal features `[rows, features]` float32 and labels `[rows]` int64 drawn with the
    configuration's class proportions (numpy)."""
    import numpy as np
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, cfg["features"]), dtype=np.float32)
    y = rng.choice(cfg["classes"], size=rows, p=np.array(cfg["weights"]) / sum(cfg["weights"]))
    return x, y.astype(np.int64)


def rank_batches(cfg, rank, world):
    """Global batches in order; each split into `world` near-equal contiguous parts (part `rank` is
    this rank's), as focal-ddp's chunk plan gives every rank a share of every batch. Returns the
    row indices this rank holds `[local rows]` and, per batch, (local start, local end, global rows)."""
    import numpy as np
    idx, spans, at = [], [], 0
    for start in range(0, cfg["train_rows"], cfg["batch"]):
        n = min(cfg["batch"], cfg["train_rows"] - start)
        lo, hi = start + rank * n // world, start + (rank + 1) * n // world
        idx.append(np.arange(lo, hi))
        spans.append((at, at + hi - lo, n))
        at += hi - lo
    return np.concatenate(idx), spans


def inverse_alpha(y, classes, total_rows, counts=None):
    """The tutorial's class weights 1 / (count / n) from the (global) label counts."""
    import numpy as np
    if counts is None:
        counts = np.bincount(y, minlength=classes)
    return (1.0 / (counts / total_rows)).astype(np.float32)


# MARK: - PyTorch worker (one process; or one rank of DDP)

def torch_train(cfg, runs, threads, rank=0, world=1, queue=None):
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    torch.set_num_threads(threads)
    ddp = world > 1
    if ddp:
        import torch.distributed as dist
        dist.init_process_group("gloo", rank=rank, world_size=world)
    # Each rank holds its part of every global batch (contiguous halves), as focal-ddp does.
    x_all, y_all = make_data(cfg, cfg["train_rows"], seed=42)
    alpha = torch.from_numpy(inverse_alpha(y_all, cfg["classes"], cfg["train_rows"]))
    idx, spans = rank_batches(cfg, rank, world)
    x = torch.from_numpy(np.ascontiguousarray(x_all[idx]))
    y = torch.from_numpy(y_all[idx])
    del x_all, y_all
    gamma = 2.0

    def focal(logits, target, n_global):
        # The tutorial's mean over the global batch; DDP averages gradients over ranks, hence * world.
        ce = F.cross_entropy(logits, target, reduction="none")
        pt = torch.exp(-ce)
        return (alpha[target] * (1 - pt) ** gamma * ce).sum() * (world / n_global)

    times = []
    for _ in range(runs):
        widths = [cfg["features"]] + cfg["hidden"] + [cfg["classes"]]
        layers = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(widths) - 2:
                layers.append(nn.ReLU())
        model = nn.Sequential(*layers)
        if ddp:
            model = nn.parallel.DistributedDataParallel(model)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        if ddp:
            dist.barrier()
        t0 = time.perf_counter()
        for _ in range(cfg["epochs"]):
            for lo, hi, n in spans:
                opt.zero_grad(set_to_none=True)
                loss = focal(model(x[lo:hi]), y[lo:hi], n)
                loss.backward()
                opt.step()
        dt = time.perf_counter() - t0
        if ddp:
            t = torch.tensor([dt], dtype=torch.float64)
            dist.all_reduce(t, op=dist.ReduceOp.MAX)
            dt = float(t[0])
        times.append(dt)
    result = dict(seconds=times, rss=[peak_rss_mib()])
    if ddp:
        rss = [None] * world
        dist.all_gather_object(rss, peak_rss_mib())
        result["rss"] = rss
        dist.destroy_process_group()
        if rank == 0 and queue is not None:
            queue.put(result)
    return result


def ddp_entry(rank, world, cfg, runs, port, queue):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch_train(cfg, runs, threads=1, rank=rank, world=world, queue=queue)


def run_ddp(cfg, runs, world=2):
    import torch.multiprocessing as mp
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    mp.spawn(ddp_entry, args=(world, cfg, runs, port, queue), nprocs=world, join=True)
    return queue.get()


# MARK: - NumPy + mpi4py worker (one rank, under mpirun)

def numpy_train(cfg, runs):
    """Hand-written forward/backward in float32 NumPy (BLAS matmuls), focal-loss gradient
    dL/dz_j = alpha_t (p_j - [j=t]) (gamma (1-p_t)^(gamma-1) p_t ce + (1-p_t)^gamma) / n,
    one Allreduce of the flat gradient per step, Adam (PyTorch's formula) on every rank."""
    import numpy as np
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    rank, world = comm.Get_rank(), comm.Get_size()
    x_all, y_all = make_data(cfg, cfg["train_rows"], seed=42)
    alpha = inverse_alpha(y_all, cfg["classes"], cfg["train_rows"])
    idx, spans = rank_batches(cfg, rank, world)
    x = np.ascontiguousarray(x_all[idx])
    y = y_all[idx]
    del x_all, y_all
    widths = [cfg["features"]] + cfg["hidden"] + [cfg["classes"]]
    L = len(widths) - 1
    sizes = [(widths[i + 1], widths[i]) for i in range(L)]
    count = sum(o * i + o for o, i in sizes)
    gamma = np.float32(2.0)
    times = []
    for _ in range(runs):
        rng = np.random.default_rng(0)
        flat = np.empty(count, np.float32)       # [parameters]: W0 [out, in], b0 [out], W1, b1, ...
        grad = np.empty(count, np.float32)
        views, gviews, off = [], [], 0
        for o, i in sizes:
            bound = 1 / np.sqrt(i)
            w = flat[off:off + o * i].reshape(o, i); gw = grad[off:off + o * i].reshape(o, i); off += o * i
            b = flat[off:off + o]; gb = grad[off:off + o]; off += o
            w[...] = rng.uniform(-bound, bound, (o, i)); b[...] = rng.uniform(-bound, bound, o)
            views.append((w, b)); gviews.append((gw, gb))
        m = np.zeros(count, np.float32); v = np.zeros(count, np.float32)
        b1, b2, lr, eps, step = 0.9, 0.999, 1e-3, 1e-8, 0
        comm.Barrier()
        t0 = time.perf_counter()
        for _ in range(cfg["epochs"]):
            for lo, hi, n_global in spans:
                xb, yb = x[lo:hi], y[lo:hi]
                acts = [xb]
                for l, (w, b) in enumerate(views):
                    z = acts[-1] @ w.T + b
                    if l < L - 1:
                        np.maximum(z, 0, out=z)
                    acts.append(z)
                z = acts[-1]
                z = z - z.max(axis=1, keepdims=True)
                p = np.exp(z); p /= p.sum(axis=1, keepdims=True)
                r = np.arange(len(yb))
                pt = p[r, yb]
                ce = -np.log(np.maximum(pt, 1e-30))
                a = alpha[yb]
                coef = a * (gamma * (1 - pt) ** (gamma - 1) * pt * ce + (1 - pt) ** gamma) / n_global
                d = p; d[r, yb] -= 1; d *= coef[:, None]
                for l in range(L - 1, -1, -1):
                    gw, gb = gviews[l]
                    np.matmul(d.T, acts[l], out=gw)
                    gb[...] = d.sum(axis=0)
                    if l > 0:
                        d = d @ views[l][0]
                        d[acts[l] <= 0] = 0
                comm.Allreduce(MPI.IN_PLACE, grad, op=MPI.SUM)
                step += 1
                m *= b1; m += (1 - b1) * grad
                v *= b2; v += (1 - b2) * grad * grad
                denom = np.sqrt(v / (1 - b2 ** step)) + eps
                flat -= (lr / (1 - b1 ** step)) * m / denom
        dt = comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)
        times.append(dt)
    rss = comm.gather(peak_rss_mib(), root=0)
    if rank == 0:
        print("RESULT " + json.dumps(dict(seconds=times, rss=rss)), flush=True)


# MARK: - Drivers

def mpirun_prefix(n):
    cmd = ["mpirun", "-q", "-n", str(n), "--mca", "pml", "ob1", "-x", "OPENBLAS_NUM_THREADS=1"]
    if os.geteuid() == 0:
        cmd.append("--allow-run-as-root")
    if n > (os.cpu_count() or 1):
        cmd.append("--oversubscribe")
    return cmd


def clean_env():
    """The environment for a child mpirun: without inherited OMPI_/PMIX_/OPAL_ variables."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMIX_", "OPAL_"))}


def result_line(text, what):
    for line in text.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"{what}: no RESULT line in its output:\n{text[-2000:]}")


def run_focal(bench, config, ranks, runs):
    cmd = mpirun_prefix(ranks) + [bench, "train", "--config", config, "--runs", str(runs)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=clean_env())
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stdout[-2000:]}{out.stderr[-2000:]}")
    print(out.stdout, end="", flush=True)
    r = result_line(out.stdout, "focal-bench")
    return dict(seconds=r["root_seconds"], rss=r["peak_rss_mib"], limit=r["sgemm_limit_gflops"])


def run_worker(args_list, what, mpi_ranks=None, attempts=1):
    """Runs a worker process; `attempts` > 1 retries a failed one (gloo DDP has been seen to abort
    with "terminate called without an active exception" in about one run of ten here)."""
    cmd = [sys.executable, os.path.abspath(__file__), "--worker"] + args_list
    if mpi_ranks:
        cmd = mpirun_prefix(mpi_ranks) + cmd
    env = clean_env()
    for attempt in range(attempts):
        out = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if out.returncode == 0:
            return result_line(out.stdout, what)
        print(f"{what}: attempt {attempt + 1} failed ({out.returncode}): {out.stderr.strip().splitlines()[:1]}", flush=True)
    raise RuntimeError(f"{what} failed ({out.returncode}):\n{out.stdout[-2000:]}{out.stderr[-3000:]}")


def worker_main(argv):
    p = argparse.ArgumentParser()
    p.add_argument("kind", choices=["torch", "ddp", "numpy"])
    p.add_argument("--config", required=True)
    p.add_argument("--runs", type=int, required=True)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    cfg = CONFIGS[a.config]
    if a.kind == "torch":
        r = torch_train(cfg, a.runs, a.threads)
    elif a.kind == "ddp":
        r = run_ddp(cfg, a.runs)
    else:
        numpy_train(cfg, a.runs)
        return
    print("RESULT " + json.dumps(r), flush=True)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker_main(sys.argv[2:])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bench", default=".build/release/focal-bench", help="focal-bench release binary")
    ap.add_argument("--configs", default="large,tutorial", help="comma list of: " + ", ".join(CONFIGS))
    ap.add_argument("--runs", type=int, default=3, help="timed runs per contender (median reported)")
    ap.add_argument("--skip", default="", help="comma list of contenders to skip: focal,torch1,torch2,ddp,numpy")
    a = ap.parse_args()
    skip = set(filter(None, a.skip.split(",")))
    try:
        import torch  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
        print("PyTorch is not installed: `pip install torch` (CPU wheels: "
              "`pip install torch` (the CPU-only build is enough)). Skipping it.")
    try:
        import mpi4py  # noqa: F401
        import numpy  # noqa: F401
        have_mpi4py = shutil.which("mpirun") is not None
    except ImportError:
        have_mpi4py = False
        print("mpi4py is not importable (`pip install mpi4py`): skipping NumPy + mpi4py.")
    if "focal" not in skip and not os.access(a.bench, os.X_OK):
        sys.exit(f"compare_pytorch.py: --bench: '{a.bench}' is not an executable "
                 "(build it: swift build -c release --product focal-bench)")

    for name in a.configs.split(","):
        if name not in CONFIGS:
            sys.exit(f"compare_pytorch.py: --configs: '{name}' is not one of {', '.join(CONFIGS)}")
        cfg = CONFIGS[name]
        fps = flops_per_sample(cfg)
        samples = cfg["train_rows"] * cfg["epochs"]
        rows = []  # (label, seconds, rss list, load)
        limits = {}

        def add(label, fn):
            load = load_average()
            try:
                r = fn()
            except Exception as e:  # report and go on with the other contenders
                print(f"{label}: failed: {e}")
                return
            secs = r["seconds"] if isinstance(r["seconds"], float) else median(r["seconds"])
            rows.append((label, secs, r["rss"], load))
            if "limit" in r:
                limits[label] = r["limit"]

        print(f"\n=== {name}: {samples} samples, {fps} FLOP/sample (6 x sum(in*out)), {a.runs} runs each ===", flush=True)
        if "focal" not in skip:
            add("focal-ddp 1 rank", lambda: run_focal(a.bench, name, 1, a.runs))
            add("focal-ddp 2 ranks", lambda: run_focal(a.bench, name, 2, a.runs))
        if have_torch:
            if "torch1" not in skip:
                add("PyTorch 1 thread", lambda: run_worker(["torch", "--config", name, "--runs", str(a.runs), "--threads", "1"], "torch1"))
            if "torch2" not in skip:
                add("PyTorch 2 threads", lambda: run_worker(["torch", "--config", name, "--runs", str(a.runs), "--threads", "2"], "torch2"))
            if "ddp" not in skip:
                add("PyTorch DDP gloo 2 proc", lambda: run_worker(["ddp", "--config", name, "--runs", str(a.runs)], "ddp", attempts=2))
        if have_mpi4py and "numpy" not in skip:
            add("NumPy+mpi4py 2 ranks", lambda: run_worker(["numpy", "--config", name, "--runs", str(a.runs)], "numpy", mpi_ranks=2))

        print(f"\n{name}: training loop only (data generation excluded), median of {a.runs} runs")
        print(f"{'contender':<26}{'seconds':>10}{'samples/s':>12}{'GFLOP/s':>9}{'peak MiB/proc':>16}  load avg")
        for label, secs, rss, load in rows:
            rate = samples / secs
            mem = "/".join(f"{m:.0f}" for m in rss)
            print(f"{label:<26}{secs:>10.4f}{rate:>12.0f}{rate * fps / 1e9:>9.1f}{mem:>16}  {load}")
        for focal_label in ("focal-ddp 1 rank", "focal-ddp 2 ranks"):
            f = next((r for r in rows if r[0] == focal_label), None)
            if f is None:
                continue
            others = [r for r in rows if not r[0].startswith("focal-ddp")]
            if others:
                print(f"ratios {focal_label} samples/s over: " +
                      ", ".join(f"{r[0]} {r[1] / f[1]:.2f}x" for r in others))
            if focal_label in limits:
                rate = samples / f[1]
                print(f"  {focal_label}: {100 * rate * fps / 1e9 / limits[focal_label]:.1f}% of the concurrent sgemm limit "
                      f"({limits[focal_label]:.1f} GFLOP/s, measured in its run)")
        one = next((r for r in rows if r[0] == "focal-ddp 1 rank"), None)
        two = next((r for r in rows if r[0] == "focal-ddp 2 ranks"), None)
        if one and two:
            print(f"focal-ddp 2 ranks / 1 rank: {one[1] / two[1]:.2f}x")


if __name__ == "__main__":
    main()
