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


def params_of(cfg):
    """Parameters of the MLP: sum of in*out + out over the layers."""
    widths = [cfg["features"]] + cfg["hidden"] + [cfg["classes"]]
    return sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))


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

    times, cpus = [], []
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
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(cfg["epochs"]):
            for lo, hi, n in spans:
                opt.zero_grad(set_to_none=True)
                loss = focal(model(x[lo:hi]), y[lo:hi], n)
                loss.backward()
                opt.step()
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        if ddp:
            t = torch.tensor([dt], dtype=torch.float64)
            dist.all_reduce(t, op=dist.ReduceOp.MAX)
            dt = float(t[0])
            c = torch.tensor([cpu], dtype=torch.float64)
            dist.all_reduce(c, op=dist.ReduceOp.SUM)
            cpu = float(c[0])
        times.append(dt)
        cpus.append(cpu)
    result = dict(seconds=times, cpu=cpus, rss=[peak_rss_mib()])
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
    times, cpus = [], []
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
        t0, c0 = time.perf_counter(), time.process_time()
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
        cpu = comm.allreduce(time.process_time() - c0, op=MPI.SUM)
        times.append(dt)
        cpus.append(cpu)
    rss = comm.gather(peak_rss_mib(), root=0)
    if rank == 0:
        print("RESULT " + json.dumps(dict(seconds=times, cpu=cpus, rss=rss)), flush=True)


# MARK: - Drivers

def mpirun_prefix(n):
    cmd = ["mpirun", "-q", "-n", str(n), "--mca", "pml", "ob1", "-x", "OPENBLAS_NUM_THREADS=1"]
    if "OPENBLAS_CORETYPE" in os.environ:  # the kernel choice reaches every rank (docs/PERFORMANCE.md)
        cmd += ["-x", "OPENBLAS_CORETYPE"]
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


def run_focal(bench, config, ranks, runs, reduce="exact"):
    """focal-bench train; with reduce="both" the exact and --fast-reduce runs alternate inside one
    process. Returns {variant: result} with variant "root" (exact) and "root_fast"."""
    cmd = mpirun_prefix(ranks) + [bench, "train", "--config", config, "--runs", str(runs), "--reduce", reduce]
    out = subprocess.run(cmd, capture_output=True, text=True, env=clean_env())
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stdout[-2000:]}{out.stderr[-2000:]}")
    print(out.stdout, end="", flush=True)
    r = result_line(out.stdout, "focal-bench")
    return {key: dict(seconds=r[f"{key}_runs_s"], cpu=r[f"{key}_cpu_s"], rss=r["peak_rss_mib"],
                      limit=r["sgemm_limit_gflops"], wire=r[f"{key}_wire_bytes"])
            for key in ("root", "root_fast") if f"{key}_runs_s" in r}


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
        # label -> {"seconds": [...], "cpu": [...], "rss": [...], "limit": [...], "load": [...]}
        results = {}

        def record(label, r, load):
            e = results.setdefault(label, dict(seconds=[], cpu=[], rss=r["rss"], limit=[], load=[], wire=None))
            e["seconds"] += r["seconds"] if isinstance(r["seconds"], list) else [r["seconds"]]
            e["cpu"] += r.get("cpu", []) if isinstance(r.get("cpu", []), list) else [r["cpu"]]
            e["rss"] = r["rss"]
            e["load"].append(load)
            if "limit" in r:
                e["limit"].append(r["limit"])
            if "wire" in r:
                e["wire"] = r["wire"]

        def add(label, fn):
            load = load_average()
            try:
                r = fn()
            except Exception as e:  # report and go on with the other contenders
                print(f"{label}: failed: {e}")
                return
            if label.startswith("focal-ddp"):
                for key, name in (("root", label), ("root_fast", label + " --fast-reduce")):
                    if key in r:
                        record(name, r[key], load)
            else:
                record(label, r, load)

        print(f"\n=== {name}: {samples} samples, {fps} FLOP/sample (6 x sum(in*out)), {a.runs} alternating rounds ===", flush=True)
        # Rounds: every contender runs once per round, in the same order, so that a busy spell of
        # the machine hits them alike; focal-ddp's exact and --fast-reduce runs alternate inside its process.
        for round_ in range(a.runs):
            print(f"--- round {round_ + 1} of {a.runs} (load {load_average()})", flush=True)
            if "focal" not in skip:
                add("focal-ddp 1 rank", lambda: run_focal(a.bench, name, 1, 1, "both"))
                add("focal-ddp 2 ranks", lambda: run_focal(a.bench, name, 2, 1, "both"))
            if have_torch:
                if "torch1" not in skip:
                    add("PyTorch 1 thread", lambda: run_worker(["torch", "--config", name, "--runs", "1", "--threads", "1"], "torch1"))
                if "torch2" not in skip:
                    add("PyTorch 2 threads", lambda: run_worker(["torch", "--config", name, "--runs", "1", "--threads", "2"], "torch2"))
                if "ddp" not in skip:
                    add("PyTorch DDP gloo 2 proc", lambda: run_worker(["ddp", "--config", name, "--runs", "1"], "ddp", attempts=2))
            if have_mpi4py and "numpy" not in skip:
                add("NumPy+mpi4py 2 ranks", lambda: run_worker(["numpy", "--config", name, "--runs", "1"], "numpy", mpi_ranks=2))

        print(f"\n{name}: training loop only (data generation excluded); median of {a.runs} alternating runs, "
              "spread = slowest-fastest run; samples/CPU-s = samples / CPU seconds of all processes")
        print(f"{'contender':<36}{'seconds':>9}{'samples/s':>11}{'spread':>17}{'GFLOP/s':>9}{'samp/CPU-s':>12}"
              f"{'MiB/proc':>10}  load avg (first round, last)")
        table = []
        for label, e in results.items():
            secs = median(e["seconds"])
            rate = samples / secs
            spread = f"{samples / max(e['seconds']):.0f}-{samples / min(e['seconds']):.0f}"
            per_cpu = samples / median(e["cpu"]) if e["cpu"] else float("nan")
            mem = "/".join(f"{m:.0f}" for m in e["rss"])
            table.append((label, secs, rate))
            print(f"{label:<36}{secs:>9.4f}{rate:>11.0f}{spread:>17}{rate * fps / 1e9:>9.1f}{per_cpu:>12.0f}{mem:>10}"
                  f"  {e['load'][0]}; {e['load'][-1]}")
        rates = {label: rate for label, _, rate in table}
        for focal_label in ("focal-ddp 1 rank", "focal-ddp 2 ranks"):
            if focal_label not in rates:
                continue
            others = [(l, r) for l, r in rates.items() if not l.startswith("focal-ddp")]
            if others:
                print(f"ratios {focal_label} samples/s over: " + ", ".join(f"{l} {rates[focal_label] / r:.2f}x" for l, r in others))
            fast = rates.get(focal_label + " --fast-reduce")
            if fast:
                print(f"  {focal_label}: exact / --fast-reduce = {rates[focal_label] / fast:.3f}")
            e = results[focal_label]
            if e["limit"]:
                limit = median(e["limit"])
                print(f"  {focal_label}: {100 * rates[focal_label] * fps / 1e9 / limit:.1f}% of the concurrent sgemm limit "
                      f"({limit:.1f} GFLOP/s, median over its runs); --fast-reduce "
                      f"{100 * (fast or float('nan')) * fps / 1e9 / limit:.1f}%")
            if e["wire"]:
                print(f"  {focal_label}: {e['wire']} bytes per step into the gradient reduction's allreduces "
                      f"({e['wire'] / (4 * params_of(cfg)):.3f}x a float32 allreduce of the gradient)")
        if "focal-ddp 1 rank" in rates and "focal-ddp 2 ranks" in rates:
            print(f"focal-ddp 2 ranks / 1 rank: {rates['focal-ddp 2 ranks'] / rates['focal-ddp 1 rank']:.2f}x")


if __name__ == "__main__":
    main()
