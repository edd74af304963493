#!/usr/bin/env python3
"""Real imbalanced data sets from scikit-learn, baselines, focal-ddp's recipe, and reference fixtures.

Issue 12, item 6 (the real-data results table) and item 7 (fixtures the Swift tests read without
scikit-learn). Run by hand; its small outputs are committed under Tests/Fixtures/real-data/.

How to run (from the repository root; Python 3.10+):
    python3 -m venv /tmp/venv-realdata
    /tmp/venv-realdata/bin/pip install numpy scipy scikit-learn torch   # torch: a CPU wheel is enough
    PY=/tmp/venv-realdata/bin/python
    $PY scripts/real_data.py export    Tests/Fixtures/real-data          # data sets + split indices
    $PY scripts/real_data.py baselines Tests/Fixtures/real-data          # 3 baselines x 20 splits
    $PY scripts/real_data.py select    Tests/Fixtures/real-data --focal-ddp .build/release/focal-ddp
    $PY scripts/real_data.py focal     Tests/Fixtures/real-data --focal-ddp .build/release/focal-ddp
    $PY scripts/real_data.py report    Tests/Fixtures/real-data          # markdown table on stdout
    $PY scripts/real_data.py fixtures  Tests/Fixtures/real-data          # scaler/threshold/calibration
    $PY scripts/real_data.py crosscheck Tests/Fixtures/real-data --focal-ddp .build/debug/focal-ddp

The data sets (all bundled with scikit-learn, originally from the UCI repository, CC BY 4.0):
    breast_cancer  load_breast_cancer, 569 x 30; label 1 = malignant (sklearn's target 0), 212 rows
    digits9        load_digits, 1797 x 64; label 1 = the digit 9 (180 rows), 0 = every other digit
    wine_imb       load_wine, classes kept 44 / 30 / 9 rows (of 59 / 71 / 48)
    iris_imb       load_iris, classes kept 50 / 25 / 8 rows (of 50 / 50 / 50)
The subsample rule: for class k, rows = sorted(np.random.RandomState(SUBSAMPLE_SEED + k).choice(
indices of class k in file order, count[k], replace=False)); the kept rows stay in file order.

Splits: split s (s = 0..19) is train_test_split(arange(n), test_size=0.25, stratify=y,
random_state=s); its test indices are stored in splits.json, the training indices are the rest in
the order train_test_split returns them (also stored).

Metrics (computed by this script for every method from the test-set probabilities P [rows, classes]
and the predicted classes):
    balanced accuracy  sklearn.metrics.balanced_accuracy_score(y, pred)
    macro F1           sklearn.metrics.f1_score(y, pred, average="macro", zero_division=0)
    minority PR-AUC    binary: average_precision_score(y == 1, P[:, 1]) (class 1 is the minority
                       class in both binary sets); multiclass: the macro average of the one-vs-rest
                       average precision of every class
    Brier score        binary: brier_score_loss(y, P[:, 1]); multiclass: mean over rows of
                       sum_k (P[:, k] - [y == k])^2
pred is argmax(P) for the baselines; for focal-ddp it is what `focal-ddp predict` writes (the
stored decision threshold applied, when the model has one).
"""

import argparse
import json
import math
import os
import shlex
import subprocess
import sys
import tempfile
import time
from fractions import Fraction

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N_SPLITS = 20
TEST_SIZE = 0.25
SUBSAMPLE_SEED = 0
SUBSAMPLE = {"wine_imb": [44, 30, 9], "iris_imb": [50, 25, 8]}
DATASETS = ["breast_cancer", "digits9", "wine_imb", "iris_imb"]
METRICS = ["balanced_accuracy", "macro_f1", "minority_pr_auc", "brier"]
LOWER_IS_BETTER = {"brier"}
BASELINES = ["logreg", "hgb", "torch_mlp"]
METHOD_NAMES = {
    "logreg": "StandardScaler + LogisticRegression(class_weight=\"balanced\")",
    "hgb": "HistGradientBoostingClassifier(class_weight=\"balanced\")",
    "torch_mlp": "tutorial recipe in PyTorch, standardized (MLP 64, focal gamma 2, alpha inverse, Adam 1e-3, 100 epochs)",
    "focal_ddp": "focal-ddp recipe",
}


def dump_json(path, obj):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.write("\n")


def load_json(path):
    with open(path) as f:
        return json.load(f)


def command_line():
    """This run's command, with paths made machine-independent (a build product as `.build/...`)."""
    out = ["scripts/real_data.py"]
    for a in sys.argv[1:]:
        if os.path.isabs(a):
            a = a[a.index(".build/"):] if ".build/" in a else (os.path.relpath(a, ROOT) if a.startswith(ROOT) else os.path.basename(a))
        out.append(shlex.quote(a))
    return " ".join(out)


def machine_load():
    """The 1-minute load average and the number of CPUs, for the report."""
    return {"loadavg_1m": round(os.getloadavg()[0], 2), "cpus": os.cpu_count()}


# MARK: - Data sets

def load_dataset(name):
    """Returns (X float64 [rows, features], y int64 [rows], source description)."""
    from sklearn import datasets
    if name == "breast_cancer":
        d = datasets.load_breast_cancer()
        return d.data.astype(np.float64), (d.target == 0).astype(np.int64), "load_breast_cancer; 1 = malignant"
    if name == "digits9":
        d = datasets.load_digits()
        return d.data.astype(np.float64), (d.target == 9).astype(np.int64), "load_digits; 1 = digit 9, 0 = the rest"
    loader = {"wine_imb": datasets.load_wine, "iris_imb": datasets.load_iris}[name]
    d = loader()
    y = d.target.astype(np.int64)
    keep = []
    for k, count in enumerate(SUBSAMPLE[name]):
        idx = np.flatnonzero(y == k)
        keep.extend(np.random.RandomState(SUBSAMPLE_SEED + k).choice(idx, count, replace=False).tolist())
    keep = np.sort(np.array(keep))
    desc = f"{loader.__name__}; per-class subsample {SUBSAMPLE[name]} (RandomState({SUBSAMPLE_SEED}+k).choice)"
    return d.data[keep].astype(np.float64), y[keep], desc


def make_splits(y):
    from sklearn.model_selection import train_test_split
    out = []
    for s in range(N_SPLITS):
        tr, te = train_test_split(np.arange(len(y)), test_size=TEST_SIZE, stratify=y, random_state=s)
        out.append({"seed": s, "train": tr.tolist(), "test": te.tolist()})
    return out


def write_csv(path, X, y):
    with open(path, "w") as f:
        f.write(",".join([f"f{j}" for j in range(X.shape[1])] + ["label"]) + "\n")
        for row, label in zip(X, y):
            f.write(",".join(repr(float(v)) for v in row) + f",{int(label)}\n")


def cmd_export(args):
    import sklearn
    index = {"sklearn": sklearn.__version__, "numpy": np.__version__, "test_size": TEST_SIZE,
             "splits": N_SPLITS, "subsample_seed": SUBSAMPLE_SEED, "datasets": {}}
    for name in DATASETS:
        X, y, desc = load_dataset(name)
        d = os.path.join(args.out, "data", name)
        os.makedirs(d, exist_ok=True)
        np.save(os.path.join(d, "X.npy"), X)
        np.save(os.path.join(d, "y.npy"), y.astype("<i8"))
        csv = args.csv == "all" or X.size <= 20000
        if csv:
            write_csv(os.path.join(d, f"{name}.csv"), X, y)
        with open(os.path.join(d, "splits.json"), "w") as f:     # one split a line
            f.write("[\n" + ",\n".join(json.dumps(sp, separators=(",", ":")) for sp in make_splits(y)) + "\n]\n")
        index["datasets"][name] = {"source": desc, "rows": int(X.shape[0]), "features": int(X.shape[1]),
                                   "counts": np.bincount(y).tolist(), "csv": csv}
        print(f"{name}: X {X.shape}, counts {np.bincount(y).tolist()}")
    dump_json(os.path.join(args.out, "data", "index.json"), index)


def split_data(out, name, s):
    d = os.path.join(out, "data", name)
    X = np.load(os.path.join(d, "X.npy"))
    y = np.load(os.path.join(d, "y.npy"))
    sp = load_json(os.path.join(d, "splits.json"))[s]
    tr, te = np.array(sp["train"]), np.array(sp["test"])
    return X[tr], y[tr], X[te], y[te]


# MARK: - Metrics

def metrics(y, P, pred):
    """The four metrics of the table. y int [rows], P float64 [rows, classes], pred int [rows]."""
    from sklearn.metrics import average_precision_score, balanced_accuracy_score, brier_score_loss, f1_score
    k = P.shape[1]
    out = {"balanced_accuracy": float(balanced_accuracy_score(y, pred)),
           "macro_f1": float(f1_score(y, pred, average="macro", labels=list(range(k)), zero_division=0))}
    if k == 2:
        out["minority_pr_auc"] = float(average_precision_score(y == 1, P[:, 1]))
        out["brier"] = float(brier_score_loss(y, P[:, 1]))
    else:
        out["minority_pr_auc"] = float(np.mean([average_precision_score(y == c, P[:, c]) for c in range(k)]))
        onehot = np.eye(k)[y]
        out["brier"] = float(np.mean(np.sum((P - onehot) ** 2, axis=1)))
    return out


# MARK: - Baselines

def torch_recipe(Xtr, ytr, Xte, classes, seed=0, hidden=64, epochs=100, lr=1e-3, gamma=2.0):
    """The tutorial's recipe on standardized features; returns float64 probabilities [rows, classes].

    nn.Sequential(Linear(in, 64), ReLU(), Linear(64, classes)), torch.manual_seed(seed) before the
    model; alpha[c] = 1 / (count[c] / n) from the training labels; per row ce = cross_entropy,
    pt = exp(-ce), loss = mean(alpha[t] * (1 - pt)^gamma * ce); Adam defaults with lr; full batch.
    """
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from sklearn.preprocessing import StandardScaler
    torch.set_num_threads(1)
    scaler = StandardScaler().fit(Xtr)
    xtr = torch.tensor(scaler.transform(Xtr), dtype=torch.float32)
    xte = torch.tensor(scaler.transform(Xte), dtype=torch.float32)
    t = torch.tensor(ytr, dtype=torch.long)
    counts = np.bincount(ytr, minlength=classes)
    alpha = torch.FloatTensor([1.0 / (c / len(ytr)) for c in counts])
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(Xtr.shape[1], hidden), nn.ReLU(), nn.Linear(hidden, classes))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        opt.zero_grad()
        ce = F.cross_entropy(model(xtr), t, reduction="none")
        pt = torch.exp(-ce)
        loss = (alpha[t] * (1 - pt) ** gamma * ce).mean()
        loss.backward()
        opt.step()
    with torch.no_grad():
        z = model(xte).double().numpy()
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def baseline_probs(method, Xtr, ytr, Xte, classes):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    if method == "logreg":
        m = make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=10000))
        return m.fit(Xtr, ytr).predict_proba(Xte)
    if method == "hgb":
        m = HistGradientBoostingClassifier(class_weight="balanced", random_state=0)
        return m.fit(Xtr, ytr).predict_proba(Xte)
    if method == "torch_mlp":
        return torch_recipe(Xtr, ytr, Xte, classes)
    raise ValueError(method)


def cmd_baselines(args):
    import sklearn
    start, t0 = machine_load(), time.time()
    res = {"command": command_line(), "sklearn": sklearn.__version__,
           "methods": {m: METHOD_NAMES[m] for m in BASELINES}, "per_split": {}, "mean": {}}
    try:
        import torch
        res["torch"] = torch.__version__
    except ImportError:
        sys.exit("real_data.py: torch is needed for the tutorial-recipe baseline (pip install torch)")
    for name in DATASETS:
        res["per_split"][name] = {m: [] for m in BASELINES}
        for s in range(N_SPLITS):
            Xtr, ytr, Xte, yte = split_data(args.out, name, s)
            classes = int(max(ytr.max(), yte.max()) + 1)
            for m in BASELINES:
                P = baseline_probs(m, Xtr, ytr, Xte, classes)
                res["per_split"][name][m].append(metrics(yte, P, P.argmax(axis=1)))
        res["mean"][name] = {m: mean_metrics(res["per_split"][name][m]) for m in BASELINES}
        print(name, json.dumps(res["mean"][name]))
    res["machine"] = {"start": start, "end": machine_load(), "wall_s": round(time.time() - t0, 1)}
    dump_json(os.path.join(args.out, "results", "baselines.json"), res)


def mean_metrics(rows):
    return {k: float(np.mean([r[k] for r in rows])) for k in METRICS}


# MARK: - focal-ddp

def binary_options(binary):
    """The long options this focal-ddp binary knows (from `--help`)."""
    text = subprocess.run([binary, "--help"], capture_output=True, text=True).stdout
    return {w.rstrip(",.:") for w in text.split() if w.startswith("--")}


def prepare_recipe(binary, recipe):
    """Splits the recipe into (options for every set, extra options for two-class sets) and says
    whether standardization must be done by hand (when the recipe has no --standardize).
    Syntax: "OPTIONS [binary] OPTIONS" -- what follows [binary] is used only on two-class problems
    (focal-ddp refuses --tune-threshold on multiclass ones)."""
    common, _, binary_only = recipe.partition("[binary]")
    opts, extra = shlex.split(common), shlex.split(binary_only)
    known = binary_options(binary)
    missing = [o for o in opts + extra if o.startswith("--") and o not in known]
    if missing:
        sys.exit(f"real_data.py: this focal-ddp binary lacks {' '.join(missing)}")
    by_hand = "--standardize" not in opts + extra
    return (opts, extra), by_hand


class FocalFailure(Exception):
    pass


def run_focal(binary, opts, by_hand, Xtr, ytr, Xte, yte, work):
    """Trains focal-ddp on one split and predicts the test rows; returns (P, pred, final eval record)."""
    if by_hand:
        from sklearn.preprocessing import StandardScaler
        sc = StandardScaler().fit(Xtr)
        Xtr, Xte = sc.transform(Xtr), sc.transform(Xte)
    paths = {k: os.path.join(work, k + ".npy") for k in ["Xtr", "ytr", "Xte", "yte"]}
    for k, a in zip(["Xtr", "ytr", "Xte", "yte"], [Xtr, ytr.astype("<i8"), Xte, yte.astype("<i8")]):
        np.save(paths[k], a)
    model, jsonl, probs = (os.path.join(work, f) for f in ["model.safetensors", "m.jsonl", "p.npy"])
    for f in (model, jsonl, probs):
        if os.path.exists(f):
            os.remove(f)
    train = [binary, "--train-data", paths["Xtr"], "--train-labels", paths["ytr"], "--test-data", paths["Xte"],
             "--test-labels", paths["yte"], "--classes", str(int(max(ytr.max(), yte.max()) + 1)),
             "--metrics-out", jsonl, "--save-model", model, "--quiet"] + opts[0]
    if int(max(ytr.max(), yte.max())) == 1:
        train += opts[1]
    r = subprocess.run(train, capture_output=True, text=True)
    if r.returncode != 0:
        raise FocalFailure(f"focal-ddp failed ({r.returncode}): {r.stderr.strip()[-300:]}")
    r = subprocess.run([binary, "predict", "--model", model, "--data", paths["Xte"], "--out", probs],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise FocalFailure(f"focal-ddp predict failed ({r.returncode}): {r.stderr.strip()[-300:]}")
    P = np.load(probs)
    pred = np.load(probs[:-4] + "_class.npy")
    evals = [json.loads(line) for line in open(jsonl) if '"type":"eval"' in line.replace(" ", "")]
    return P, pred, evals[-1]


def cmd_focal(args):
    opts, by_hand = prepare_recipe(args.focal_ddp, args.recipe)
    start, t0 = machine_load(), time.time()
    res = {"command": command_line(), "recipe": args.recipe,
           "standardized_by_hand": by_hand, "per_split": {}, "mean": {}}
    with tempfile.TemporaryDirectory() as work:
        for name in DATASETS:
            rows = []
            for s in range(N_SPLITS):
                Xtr, ytr, Xte, yte = split_data(args.out, name, s)
                try:
                    P, pred, ev = run_focal(args.focal_ddp, opts, by_hand, Xtr, ytr, Xte, yte, work)
                except FocalFailure as e:
                    sys.exit(f"real_data.py: {name} split {s}: {e}")
                m = metrics(yte, P, pred)
                m["cli_balanced_accuracy"] = ev.get("balanced_accuracy")
                rows.append(m)
            res["per_split"][name] = rows
            res["mean"][name] = mean_metrics(rows)
            print(name, json.dumps(res["mean"][name]), flush=True)
    res["machine"] = {"start": start, "end": machine_load(), "wall_s": round(time.time() - t0, 1)}
    dump_json(os.path.join(args.out, "results", f"focal_{args.tag}.json"), res)


# MARK: - Choosing the recipe on validation data only

def cmd_select(args):
    """Scores each candidate recipe by balanced accuracy on an inner validation split of the
    training part of outer splits 0..inner-1 (never their test rows); the best mean over all
    data sets and inner splits wins (ties: the earlier candidate)."""
    from sklearn.model_selection import train_test_split
    candidates = [c for c in args.candidates.split(";") if c.strip()]
    start, t0 = machine_load(), time.time()
    res = {"command": command_line(), "candidates": {}}
    with tempfile.TemporaryDirectory() as work:
        for cand in candidates:
            opts, by_hand = prepare_recipe(args.focal_ddp, cand)
            scores = {}
            for name in DATASETS:
                scores[name] = []
                for s in range(args.inner):
                    Xtr, ytr, _, _ = split_data(args.out, name, s)
                    a, b, ya, yb = train_test_split(Xtr, ytr, test_size=0.25, stratify=ytr, random_state=1000 + s)
                    try:
                        P, pred, _ = run_focal(args.focal_ddp, opts, by_hand, a, ya, b, yb, work)
                        scores[name].append(metrics(yb, P, pred)["balanced_accuracy"])
                    except FocalFailure as e:     # a recipe that fails anywhere cannot be chosen
                        print(f"  {name} inner split {s}: {e}", flush=True)
                        scores[name].append(float("-inf"))
            mean = float(np.mean([v for l in scores.values() for v in l]))
            mean = mean if math.isfinite(mean) else None
            res["candidates"][cand] = {"mean_val_balanced_accuracy": mean,
                                       "per_set": {k: (float(np.mean(v)) if np.all(np.isfinite(v)) else None) for k, v in scores.items()},
                                       "standardized_by_hand": by_hand}
            print(f"{mean}  {cand}  " + json.dumps(res["candidates"][cand]["per_set"]), flush=True)
    ok = [c for c in candidates if res["candidates"][c]["mean_val_balanced_accuracy"] is not None]
    best = max(ok, key=lambda c: (res["candidates"][c]["mean_val_balanced_accuracy"], -candidates.index(c)))
    res["chosen"] = best
    res["machine"] = {"start": start, "end": machine_load(), "wall_s": round(time.time() - t0, 1)}
    dump_json(os.path.join(args.out, "results", f"select_{args.tag}.json"), res)
    print("chosen:", best)


# MARK: - Report

def t_interval(d):
    from scipy import stats
    d = np.asarray(d, dtype=np.float64)
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
    return float(d.mean()), float(d.mean() - half), float(d.mean() + half)


def cmd_report(args):
    """Markdown tables: the selection on validation data, the test means per method, and the paired
    difference of the recipe to the best baseline (per metric, the baseline with the best mean)."""
    res = os.path.join(args.out, "results")
    base = load_json(os.path.join(res, "baselines.json"))
    focal = load_json(os.path.join(res, f"focal_{args.tag}.json"))
    others = {t: load_json(os.path.join(res, f"focal_{t}.json")) for t in args.also}

    def run_line(label, r):
        m = r["machine"]
        return (f"- {label}: `{r['command']}` — wall {m['wall_s']} s, 1-minute load {m['start']['loadavg_1m']} at the "
                f"start and {m['end']['loadavg_1m']} at the end on {m['start']['cpus']} CPUs")
    lines = [run_line("baselines", base), run_line(f"focal-ddp `{args.tag}`", focal)]
    lines += [run_line(f"focal-ddp `{t}`", r) for t, r in others.items()]
    for stag in args.select:
        sel = load_json(os.path.join(res, f"select_{stag}.json"))
        lines += ["", run_line(f"selection `{stag}`", sel), "",
                  f"Selection `{stag}` (mean balanced accuracy on inner validation splits of the training parts):", "",
                  "| candidate | mean | " + " | ".join(DATASETS) + " |", "|---|---|" + "---|" * len(DATASETS)]
        for c, v in sel["candidates"].items():
            mean = "failed" if v["mean_val_balanced_accuracy"] is None else f"{v['mean_val_balanced_accuracy']:.4f}"
            lines.append(f"| `{c}`{' **(chosen)**' if c == sel['chosen'] else ''} | {mean} | "
                         + " | ".join("failed" if v["per_set"][d] is None else f"{v['per_set'][d]:.4f}" for d in DATASETS) + " |")
    lines.append("")
    flags = []
    for name in DATASETS:
        lines.append(f"#### {name}\n")
        lines.append("| method | " + " | ".join(METRICS) + " |")
        lines.append("|---|" + "---|" * len(METRICS))
        for m in BASELINES:
            lines.append(f"| {m} | " + " | ".join(f"{base['mean'][name][m][k]:.4f}" for k in METRICS) + " |")
        for t, r in others.items():
            lines.append(f"| focal-ddp `{t}` | " + " | ".join(f"{r['mean'][name][k]:.4f}" for k in METRICS) + " |")
        lines.append(f"| **focal-ddp `{args.tag}`** | " + " | ".join(f"{focal['mean'][name][k]:.4f}" for k in METRICS) + " |")
        cells = []
        for k in METRICS:
            pick = min if k in LOWER_IS_BETTER else max
            best = pick(BASELINES, key=lambda m: base["mean"][name][m][k])
            d = [f[k] - b[k] for f, b in zip(focal["per_split"][name], base["per_split"][name][best])]
            mu, lo, hi = t_interval(d)
            cells.append(f"{mu:+.4f} [{lo:+.4f}, {hi:+.4f}] vs {best}")
            if k == "balanced_accuracy" and mu < -0.01 and hi < 0:
                flags.append(f"{name}: balanced accuracy {mu:+.4f} [{lo:+.4f}, {hi:+.4f}] against {best}")
        lines.append(f"| `{args.tag}` − best baseline, mean [95 % t-interval] over 20 paired splits | " + " | ".join(cells) + " |")
        same = []
        for k in METRICS:     # against the same model family in PyTorch (the tutorial's recipe, standardized)
            mu, lo, hi = t_interval([f[k] - b[k] for f, b in zip(focal["per_split"][name], base["per_split"][name]["torch_mlp"])])
            same.append(f"{mu:+.4f} [{lo:+.4f}, {hi:+.4f}]")
        lines.append(f"| `{args.tag}` − torch_mlp (same model family) | " + " | ".join(same) + " |")
        lines.append("")
    for t, r in [(args.tag, focal)] + list(others.items()):
        for name in DATASETS:
            rows = r["per_split"][name]
            d = [x["balanced_accuracy"] - x["cli_balanced_accuracy"] for x in rows]
            if any(v != 0 for v in d):     # predict's stored threshold against the same model's argmax
                mu, lo, hi = t_interval(d)
                lines.append(f"`{t}` on {name}: balanced accuracy with the tuned threshold − with argmax (same model, "
                             f"the CLI's final eval record): {mu:+.4f} [{lo:+.4f}, {hi:+.4f}], lower on "
                             f"{sum(v < 0 for v in d)} of 20 splits, higher on {sum(v > 0 for v in d)}")
    lines.append("")
    lines.append("Where the recipe misses the goal (balanced accuracy more than 0.01 below the best baseline, interval excluding 0): "
                 + ("; ".join(flags) if flags else "nowhere."))
    print("\n".join(lines))


# MARK: - Reference fixtures for the Swift tests

def fixture_scaler():
    """StandardScaler on a committed small matrix with a constant and a near-constant column."""
    from sklearn.preprocessing import StandardScaler
    rng = np.random.RandomState(12)
    n = 9
    X = np.column_stack([
        rng.normal(3.0, 2.0, n),                      # ordinary
        np.full(n, 7.25),                             # constant: scale 1
        1e6 + rng.randint(0, 3, n) * 2.0 ** -32,      # near-constant (1e6 + 0..2 ulp; var below sklearn's bound): scale 1
        1e4 + rng.normal(0, 1e-3, n),                 # large offset, small but real spread
        rng.uniform(-2500, 2500, n),                  # large magnitude
        np.where(np.arange(n) == 4, 1.0, 0.0),        # one non-zero row
    ])
    sc = StandardScaler().fit(X)
    return {"source": "sklearn.preprocessing.StandardScaler().fit(X); scale_ = sqrt(var_) except 1.0 where "
                      "sklearn's _is_constant_feature(var_, mean_, n) holds (var <= n*eps*var + (n*mean*eps)^2)",
            "X": X.tolist(), "mean_": sc.mean_.tolist(), "var_": sc.var_.tolist(), "scale_": sc.scale_.tolist(),
            "transformed": sc.transform(X).tolist()}


def brute_thresholds(y, p):
    """Every candidate t (the unique scores, descending) with exact confusion counts and values."""
    y = np.asarray(y)
    P, N = int((y == 1).sum()), int((y == 0).sum())
    rows = []
    for t in sorted(set(p.tolist()), reverse=True):
        pred = p >= t
        tp, fp = int((pred & (y == 1)).sum()), int((pred & (y == 0)).sum())
        fn, tn = P - tp, N - fp
        prec = Fraction(tp, tp + fp)
        rec = Fraction(tp, P)
        f1 = Fraction(2 * tp, 2 * tp + fp + fn)
        bal = (Fraction(tp, P) + Fraction(tn, N)) / 2
        rows.append({"t": t, "tp": tp, "fp": fp, "fn": fn, "tn": tn, "precision": prec, "recall": rec, "f1": f1, "bal": bal})
    return rows


def choose(rows, key, feasible=lambda r: True):
    """Largest value of key among feasible rows; ties -> the largest t (rows are in descending t)."""
    best = None
    for r in rows:
        if feasible(r) and (best is None or key(r) > key(best)):
            best = r
    return best


def fixture_thresholds():
    from sklearn.metrics import precision_recall_curve, roc_curve
    rng = np.random.RandomState(7)
    cases = {}
    # Hand-made label orders (found by enumeration) where two thresholds share the best value, so the
    # "largest t" rule decides: F1 (f1_tie), balanced accuracy (balanced_tie), recall at precision >= 0.8
    # (recall_tie). The scores have one tied pair (0.6, 0.6).
    p12 = np.array([0.9, 0.8, 0.7, 0.6, 0.6, 0.5, 0.4, 0.3, 0.3, 0.2, 0.1, 0.05])
    handmade = {"f1_tie": np.array([1, 0, 0, 0, 1, 1, 1, 0, 0, 1, 0, 0]),
                "balanced_tie": np.array([1, 1, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0]),
                "recall_tie": np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0])}
    generated = {"ties_2_decimals": (40, 12, 2), "distinct": (30, 9, 6)}
    for case in list(generated) + list(handmade):
        if case in handmade:
            y, p = handmade[case], p12
        else:
            n, pos, dec = generated[case]
            y = np.array([1] * pos + [0] * (n - pos))
            score = np.where(y == 1, rng.beta(4, 2, n), rng.beta(2, 4, n))
            p = np.round(score, dec)
            perm = rng.permutation(n)
            y, p = y[perm], p[perm]
        rows = brute_thresholds(y, p)
        # Cross-check the brute force with sklearn's curves at every threshold they return.
        prec, rec, thr = precision_recall_curve(y, p)
        by_t = {r["t"]: r for r in rows}
        for a, b, t in zip(prec[:-1], rec[:-1], thr):
            assert abs(float(by_t[t]["precision"]) - a) < 1e-15 and abs(float(by_t[t]["recall"]) - b) < 1e-15, t
        fpr, tpr, rthr = roc_curve(y, p, drop_intermediate=False)
        for a, b, t in zip(fpr[1:], tpr[1:], rthr[1:]):
            assert abs(float(by_t[t]["bal"]) - (b + 1 - a) / 2) < 1e-15, t
        assert sorted(thr.tolist(), reverse=True) == [r["t"] for r in rows][: len(thr)]
        feas = {"f1": (lambda r: r["f1"], lambda r: True), "balanced-accuracy": (lambda r: r["bal"], lambda r: True),
                "recall-at-precision=0.8": (lambda r: r["recall"], lambda r: r["precision"] >= Fraction(4, 5)),
                "precision-at-recall=0.9": (lambda r: r["precision"], lambda r: r["recall"] >= Fraction(9, 10))}
        picks = {
            "f1": choose(rows, lambda r: r["f1"]),
            "balanced-accuracy": choose(rows, lambda r: r["bal"]),
            "recall-at-precision=0.8": choose(rows, lambda r: r["recall"], lambda r: r["precision"] >= Fraction(4, 5)),
            "precision-at-recall=0.9": choose(rows, lambda r: r["precision"], lambda r: r["recall"] >= Fraction(9, 10)),
        }
        cases[case] = {
            "y": y.tolist(), "p1": p.tolist(),
            "choices": {k: None if r is None else {"threshold": r["t"], "precision": float(r["precision"]),
                                                   "recall": float(r["recall"]), "f1": float(r["f1"]),
                                                   "balanced_accuracy": float(r["bal"]),
                                                   "tp": r["tp"], "fp": r["fp"], "fn": r["fn"], "tn": r["tn"],
                                                   "thresholds_with_best_value": [q["t"] for q in rows if feas[k][1](q)
                                                                                  and feas[k][0](q) == feas[k][0](r)]}
                        for k, r in picks.items()},
            "sklearn_precision_recall_curve": {"precision": prec.tolist(), "recall": rec.tolist(), "thresholds": thr.tolist()},
        }
    return {"rule": "class 1 if p1 >= t; t ranges over the unique p1 values (the thresholds of precision_recall_curve "
                    "and roc_curve); among thresholds with the best value the largest t wins; recall-at-precision=P: "
                    "highest recall among t with precision >= P; precision-at-recall=R: highest precision among t with "
                    "recall >= R. Values compared exactly (fractions); cross-checked against precision_recall_curve and "
                    "roc_curve(drop_intermediate=False).",
            "cases": cases}


def softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def calib_figures(y, P, n_bins=15):
    """log loss, Brier, ECE (15 equal-width bins over top-label confidence, bins (lo, hi] and the first [0, hi])."""
    from sklearn.metrics import brier_score_loss, log_loss
    k = P.shape[1]
    ll = float(log_loss(y, P, labels=list(range(k))))
    brier = float(brier_score_loss(y, P[:, 1])) if k == 2 else float(np.mean(np.sum((P - np.eye(k)[y]) ** 2, axis=1)))
    conf = P.max(axis=1)
    correct = (P.argmax(axis=1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    b = np.searchsorted(edges[1:-1], conf)      # as sklearn's calibration_curve: bin i holds (edge_i, edge_i+1]
    ece = 0.0
    for i in range(n_bins):
        m = b == i
        if m.any():
            ece += m.sum() / len(y) * abs(correct[m].mean() - conf[m].mean())
    return {"log_loss": ll, "brier": brier, "ece": float(ece)}


def fixture_calibration():
    from scipy.optimize import brentq, minimize_scalar
    from sklearn.calibration import calibration_curve
    rng = np.random.RandomState(3)
    cases = {}
    for case, (n, k, scale) in {"binary": (60, 2, 4.0), "three_class": (45, 3, 3.0)}.items():
        y = rng.randint(0, k, n)
        z = rng.normal(0, 1, (n, k))
        z[np.arange(n), y] += 1.0
        z = np.round(z * scale, 6)        # overconfident logits, committed with 6 decimals

        def nll(T):
            return float(-np.mean(np.log(softmax(z / T)[np.arange(n), y])))
        opt = minimize_scalar(nll, bounds=(1e-2, 100.0), method="bounded", options={"xatol": 1e-12, "maxiter": 2000})
        T = float(opt.x)
        # Independent check: Brent on log T.
        opt2 = minimize_scalar(lambda u: nll(math.exp(u)), bracket=(-1.0, 1.0), method="brent", tol=1e-12)
        assert abs(math.exp(opt2.x) - T) / T < 1e-6, (T, math.exp(opt2.x))
        # Reference to ~1e-15: the root of dNLL/dT, i.e. of mean_rows(sum_k p_k z_k - z_y) with p = softmax(z / T).
        def grad(T):
            p = softmax(z / T)
            return float(np.mean(np.sum(p * z, axis=1) - z[np.arange(n), y]))
        T_root = brentq(grad, 0.05, 50.0, xtol=1e-15, rtol=4 * np.finfo(float).eps)
        assert abs(T_root - T) / T_root < 1e-6, (T, T_root)
        before, after = softmax(z), softmax(z / T)
        entry = {"logits": z.tolist(), "y": y.tolist(), "temperature": T, "nll_at_T": nll(T),
                 "temperature_brent_log_T": math.exp(opt2.x), "temperature_gradient_root": T_root,
                 "before": calib_figures(y, before), "after": calib_figures(y, after)}
        if k == 2:
            for tag, P in (("before", before), ("after", after)):
                pt, pp = calibration_curve(y, P[:, 1], n_bins=15, strategy="uniform")
                entry[f"calibration_curve_{tag}"] = {"prob_true": pt.tolist(), "prob_pred": pp.tolist()}
        cases[case] = entry
    return {"source": "T = scipy.optimize.minimize_scalar(NLL(softmax(logits / T)), bounds=(0.01, 100), "
                      "method='bounded', xatol=1e-12); log_loss = sklearn.metrics.log_loss; Brier: binary "
                      "brier_score_loss(y, p1), multiclass mean_rows sum_k (p_k - [y=k])^2; ECE over top-label "
                      "confidence in 15 equal-width bins (bin i = (i/15, (i+1)/15], the first includes 0, as "
                      "calibration_curve's np.searchsorted on the inner edges), weighted by bin size; "
                      "calibration_curve(y, p1, n_bins=15, strategy='uniform') for binary; softmax in float64.",
            "cases": cases}


def cmd_fixtures(args):
    import scipy
    import sklearn
    versions = {"sklearn": sklearn.__version__, "scipy": scipy.__version__, "numpy": np.__version__}
    for fname, fn in (("standard_scaler.json", fixture_scaler), ("thresholds.json", fixture_thresholds),
                      ("calibration.json", fixture_calibration)):
        obj = fn()
        obj["versions"] = versions
        dump_json(os.path.join(args.out, fname), obj)
        print("wrote", os.path.join(args.out, fname))


# MARK: - Cross-checks of a focal-ddp binary against the fixtures

def safetensors_metadata(path):
    import struct
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n)).get("__metadata__", {})


def cmd_crosscheck(args):
    """End to end through the CLI: (1) --standardize on the committed scaler matrix against
    StandardScaler's mean_/scale_; (2) the stored --tune-threshold against the brute-force rule on
    `predict`'s p1 for the validation rows (breast_cancer, split 0, an inner validation part given
    with --val-data), for each rule, without and with --calibrate temperature."""
    from sklearn.model_selection import train_test_split
    B = args.focal_ddp
    with tempfile.TemporaryDirectory() as w:
        def f(n):
            return os.path.join(w, n)
        sc = load_json(os.path.join(args.out, "standard_scaler.json"))
        X = np.array(sc["X"])
        y = np.arange(len(X)) % 2
        np.save(f("sx.npy"), X)
        np.save(f("sy.npy"), y.astype("<i8"))
        subprocess.run([B, "--train-data", f("sx.npy"), "--train-labels", f("sy.npy"), "--test-data", f("sx.npy"),
                        "--test-labels", f("sy.npy"), "--standardize", "on", "--epochs", "1", "--save-model",
                        f("s.safetensors"), "--quiet"], check=True, capture_output=True)
        md = safetensors_metadata(f("s.safetensors"))
        for key, ref in (("standardize_mean", "mean_"), ("standardize_scale", "scale_")):
            got = np.array([float(v) for v in md[key].split(",")])
            rel = float(np.max(np.abs(got - sc[ref]) / np.abs(sc[ref])))
            print(f"{key} vs StandardScaler.{ref}: max relative difference {rel:.3g}")
        Xtr, ytr, Xte, yte = split_data(args.out, "breast_cancer", 0)
        a, b, ya, yb = train_test_split(Xtr, ytr, test_size=0.25, stratify=ytr, random_state=5)
        for n, v in (("a", a), ("ya", ya), ("b", b), ("yb", yb), ("te", Xte), ("yte", yte)):
            np.save(f(n + ".npy"), v)
        rules = {"f1": (lambda r: r["f1"], lambda r: True), "balanced-accuracy": (lambda r: r["bal"], lambda r: True),
                 "recall-at-precision=0.8": (lambda r: r["recall"], lambda r: r["precision"] >= Fraction(4, 5)),
                 "precision-at-recall=0.9": (lambda r: r["precision"], lambda r: r["recall"] >= Fraction(9, 10))}
        agree = total = 0
        for rule, (key, feasible) in rules.items():
            for cal in ([], ["--calibrate", "temperature"]):
                subprocess.run([B, "--train-data", f("a.npy"), "--train-labels", f("ya.npy"), "--test-data", f("te.npy"),
                                "--test-labels", f("yte.npy"), "--val-data", f("b.npy"), "--val-labels", f("yb.npy"),
                                "--standardize", "on", "--epochs", "30", "--tune-threshold", rule, "--save-model",
                                f("t.safetensors"), "--quiet"] + cal, check=True, capture_output=True)
                md = safetensors_metadata(f("t.safetensors"))
                stored = [float(v) for k, v in md.items() if "threshold" in k.lower() and v[:1].isdigit()][0]
                subprocess.run([B, "predict", "--model", f("t.safetensors"), "--data", f("b.npy"), "--out", f("pv.npy")],
                               check=True, capture_output=True)
                p1 = np.load(f("pv.npy"))[:, 1]
                classes = np.load(f("pv_class.npy"))
                rule_ok = bool(np.all(classes == (p1 >= stored)))
                best = choose(brute_thresholds(yb, p1), key, feasible)
                same_index = int(np.argmin(np.abs(p1 - stored))) == int(np.argmin(np.abs(p1 - best["t"])))
                total += 1
                agree += same_index and rule_ok
                print(f"{rule:24s} {' '.join(cal) or 'no calibration':22s} stored t {stored!r}  brute force on predict's p1 "
                      f"{best['t']!r}  {'same row' if same_index else 'DIFFERENT'}; predict's classes "
                      f"{'=' if rule_ok else '!='} (p1 >= stored t)")
        print(f"threshold choice agrees in {agree} of {total} cases")


# MARK: - Main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ["export", "baselines", "select", "focal", "report", "fixtures", "crosscheck"]:
        p = sub.add_parser(name)
        p.add_argument("out", help="output directory (Tests/Fixtures/real-data for the committed files)")
        if name == "export":
            p.add_argument("--csv", choices=["all", "small"], default="all",
                           help="CSV for every set, or only those with at most 20000 cells")
        if name == "crosscheck":
            p.add_argument("--focal-ddp", required=True, help="the focal-ddp binary")
        if name in ("select", "focal"):
            p.add_argument("--focal-ddp", required=True, help="the focal-ddp binary")
            p.add_argument("--tag", default="recipe", help="name of the results file")
        if name == "report":
            p.add_argument("--tag", default="recipe")
            p.add_argument("--also", action="append", default=[], help="more focal-ddp result tags to list (means only)")
            p.add_argument("--select", action="append", default=[], help="selection result tags to list")
        if name == "focal":
            p.add_argument("--recipe", required=True, help="focal-ddp options, one string")
        if name == "select":
            p.add_argument("--candidates", required=True, help="recipes separated by ';'")
            p.add_argument("--inner", type=int, default=5, help="outer splits whose training part is split again")
    args = ap.parse_args()
    {"export": cmd_export, "baselines": cmd_baselines, "select": cmd_select, "focal": cmd_focal,
     "report": cmd_report, "fixtures": cmd_fixtures, "crosscheck": cmd_crosscheck}[args.cmd](args)


if __name__ == "__main__":
    main()
