#!/usr/bin/env python3
"""PyTorch reference for focal-ddp's trainer: writes small fixtures that the Swift tests compare against.

The llm.c way: this script is run by hand, its (small) outputs are committed, and the Swift tests
never need Python or PyTorch.

How to run (from the repository root):
    pip install torch scikit-learn safetensors imbalanced-learn
    python3 scripts/pytorch_reference.py            # every case
    python3 scripts/pytorch_reference.py --only warmup_cosine_clip,steplr,sigmoid_binary,schedules

What it writes (all paths relative to the repository root):
    Tests/FocalCoreTests/Fixtures/parity/<case>_<f32|f64>/
        X_train.npy, y_train.npy, X_test.npy, y_test.npy   data (float64 as sklearn makes it, int64)
        init.safetensors    initial parameters in the run's dtype (torch.manual_seed(0), then the model)
        grad0.safetensors   gradients of the very first optimizer step (same names as the parameters)
        final.safetensors   parameters after training
        losses.json         {"epochs": [...], "loss": [...], "step_loss": [...], ...}
        config.json         every hyper-parameter and the class weights (alpha)
        eval.json           test-set confusion matrix and metrics (sklearn.metrics) of the final model
    Tests/FocalCoreTests/Fixtures/focal_grad_cases.json    loss and d(loss)/d(logits) on tiny cases
    Tests/FocalCoreTests/Fixtures/lr_schedules.json        PyTorch's rates per step for each schedule
    The training-control cases (warmup_cosine_clip, steplr, sigmoid_binary) write no data files:
    their config.json names the case whose X/y files they use ("data_from"); their losses.json
    also holds the rate ("lr") and the gradient norm before clipping ("grad_norm") of every step.
    Tests/FocalDataTests/Fixtures/safetensors/             PyTorch-written safetensors samples + values

The recipe (the tutorial "How to Use Class Weights with Focal Loss in PyTorch"):
    model  nn.Sequential(Linear(in, h1), ReLU(), Linear(h1, h2), ReLU(), ..., Linear(hL, classes))
           state dict names "0.weight", "0.bias", "2.weight", ...; weight is [out, in]
    alpha  "inverse": alpha[c] = 1 / (count[c] / n) computed in float64 from the training labels,
           then converted to the run's dtype (torch.FloatTensor(list of Python floats))
    loss   per row: ce = logsumexp(z) - z[t]; pt = exp(-ce); l = alpha[t] * (1 - pt)**gamma * ce
           "mean" = sum(l) / rows (the tutorial's), "weighted-mean" = sum(l) / sum(alpha[t]), "sum"
    optim  torch.optim.Adam defaults (lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 0),
           foreach=False (the single-tensor code path)
    train  batches are consecutive rows of the training set in file order (no shuffling; the last
           batch may be short and its mean divides by its own rows); per batch: zero_grad, forward,
           loss, backward, step.
    logged per-epoch loss: the reduction applied to every per-row loss of that epoch's steps, i.e.
           mean: sum_b(loss_b * rows_b) / sum_b rows_b; weighted-mean: sum_b(loss_b * wsum_b) /
           sum_b wsum_b; sum: sum_b loss_b (accumulated in float64). With one batch per epoch it is
           that batch's loss value itself (the loss before the epoch's update, as the tutorial prints).

Determinism: fixed seeds, torch.use_deterministic_algorithms(True), torch.set_num_threads(1).
Running it twice gives identical files.
"""

import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file
from sklearn import metrics
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORE_FIXTURES = os.path.join(ROOT, "Tests", "FocalCoreTests", "Fixtures")
DATA_FIXTURES = os.path.join(ROOT, "Tests", "FocalDataTests", "Fixtures", "safetensors")

DTYPES = {"f32": torch.float32, "f64": torch.float64}
ADAM = {"lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0}
INIT_SEED = 0

# MARK: - Cases

TUTORIAL_DATA = {
    "make_classification": {"n_samples": 1000, "n_features": 20, "n_informative": 10,
                            "n_redundant": 5, "weights": [0.8, 0.2], "random_state": 42},
    "train_test_split": {"test_size": 0.2, "shuffle": True, "random_state": 42},
}
FOUR_CLASS_DATA = {
    "make_classification": {"n_samples": 600, "n_features": 12, "n_informative": 6,
                            "n_redundant": 2, "n_classes": 4,
                            "weights": [0.5, 0.25, 0.15, 0.1], "random_state": 7},
    "train_test_split": {"test_size": 0.25, "shuffle": True, "random_state": 7},
}
CONTROL_CASES = [
    # Linear warmup then cosine (SequentialLR), clip_grad_norm_, on a 4-class mini-batch run.
    {"name": "warmup_cosine_clip", "data": FOUR_CLASS_DATA, "data_from": "four_class", "hidden": [32, 16],
     "gamma": 2.0, "reduction": "mean", "epochs": 6, "batch_size": 64, "lr": 1e-2,
     "schedule": {"kind": "cosine", "warmup_steps": 10, "warmup_start_factor": 0.1, "min_lr": 1e-4},
     "clip_grad_norm": 2.5},
    # StepLR without warmup.
    {"name": "steplr", "data": TUTORIAL_DATA, "data_from": "minibatch", "hidden": [64], "gamma": 2.0,
     "reduction": "mean", "epochs": 5, "batch_size": 96, "lr": 1e-2,
     "schedule": {"kind": "step", "step_size": 7, "step_gamma": 0.5}},
    # torchvision's sigmoid_focal_loss on the binary tutorial data, full batch.
    {"name": "sigmoid_binary", "data": TUTORIAL_DATA, "data_from": "tutorial", "hidden": [64], "gamma": 2.0,
     "reduction": "mean", "epochs": 30, "batch_size": None, "loss": "sigmoid-focal", "sigmoid_alpha": 0.25},
]
CASES = [
    {"name": "tutorial", "data": TUTORIAL_DATA, "hidden": [64], "gamma": 2.0,
     "reduction": "mean", "epochs": 100, "batch_size": None},
    {"name": "four_class", "data": FOUR_CLASS_DATA, "hidden": [32, 16], "gamma": 2.0,
     "reduction": "weighted-mean", "epochs": 30, "batch_size": None},
    {"name": "minibatch", "data": TUTORIAL_DATA, "hidden": [64], "gamma": 0.5,
     "reduction": "mean", "epochs": 5, "batch_size": 96},
]

# MARK: - Data, model, loss


def make_data(spec):
    """The tutorial's data: X float64 [n, features] row-major, y int64 [n]."""
    X, y = make_classification(**spec["make_classification"])
    x_train, x_test, y_train, y_test = train_test_split(X, y, **spec["train_test_split"])
    return (np.ascontiguousarray(x_train, dtype=np.float64), np.ascontiguousarray(y_train, dtype=np.int64),
            np.ascontiguousarray(x_test, dtype=np.float64), np.ascontiguousarray(y_test, dtype=np.int64))


def inverse_class_weights(y_train, classes):
    """alpha[c] = 1 / (count[c] / n) in float64 Python floats (the tutorial's loop)."""
    counts = np.bincount(y_train, minlength=classes)
    n = len(y_train)
    return [1.0 / (float(c) / n) for c in counts], [int(c) for c in counts]


def make_model(features, hidden, classes):
    """nn.Sequential(Linear, ReLU, Linear, ..., Linear) built right after torch.manual_seed(INIT_SEED)."""
    torch.manual_seed(INIT_SEED)
    layers = []
    widths = [features] + list(hidden) + [classes]
    for i in range(len(widths) - 1):
        layers.append(nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def focal_rows(logits, targets, alpha, gamma):
    """Per-row focal loss [rows]: alpha[t] * (1 - pt)**gamma * ce (Lin et al. 2017; the tutorial)."""
    ce = F.cross_entropy(logits, targets, reduction="none")
    pt = torch.exp(-ce)
    return alpha[targets] * (1 - pt) ** gamma * ce


def sigmoid_focal(logits, targets, alpha, gamma, reduction):
    """torchvision.ops.sigmoid_focal_loss (torchvision/ops/focal_loss.py), K logits against one-hot targets."""
    t = F.one_hot(targets, logits.shape[1]).to(logits.dtype)
    p = torch.sigmoid(logits)
    ce_loss = F.binary_cross_entropy_with_logits(logits, t, reduction="none")
    p_t = p * t + (1 - p) * (1 - t)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * t + (1 - alpha) * (1 - t)
        loss = alpha_t * loss
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    raise ValueError(reduction)


def make_scheduler(optimizer, spec, total_steps):
    """The PyTorch scheduler of a schedule spec (focal-ddp's --lr-schedule and --warmup-*)."""
    lr = optimizer.param_groups[0]["lr"]
    w = spec.get("warmup_steps", 0)
    kind = spec["kind"]
    if kind == "constant":
        main = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1)
    elif kind == "cosine":
        main = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps - w, eta_min=spec.get("min_lr", 0.0))
    elif kind == "linear":
        main = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1.0, end_factor=spec.get("min_lr", 0.0) / lr,
                                                 total_iters=total_steps - w)
    elif kind == "step":
        main = torch.optim.lr_scheduler.StepLR(optimizer, step_size=spec["step_size"], gamma=spec.get("step_gamma", 0.1))
    else:
        raise ValueError(kind)
    if w == 0:
        return main
    warm = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=spec.get("warmup_start_factor", 0.1),
                                             end_factor=1.0, total_iters=w)
    return torch.optim.lr_scheduler.SequentialLR(optimizer, [warm, main], milestones=[w])


def reduce(rows_loss, targets, alpha, reduction):
    if reduction == "mean":
        return rows_loss.mean()
    if reduction == "weighted-mean":
        return rows_loss.sum() / alpha[targets].sum()
    if reduction == "sum":
        return rows_loss.sum()
    raise ValueError(reduction)


def denominator(targets, alpha, reduction):
    """What the batch loss was divided by, as a float64 Python number (for the epoch aggregate)."""
    if reduction == "mean":
        return float(len(targets))
    if reduction == "weighted-mean":
        return float(alpha[targets].double().sum())
    return 1.0

# MARK: - Output helpers


def dump_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1, allow_nan=False)
        f.write("\n")


def params_of(model):
    return {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}


def tensor_list(t):
    return [float(v) for v in t.detach().double().flatten().tolist()]

# MARK: - One training run


def run_case(case, tag):
    dtype = DTYPES[tag]
    x_train, y_train, x_test, y_test = make_data(case["data"])
    features = x_train.shape[1]
    classes = int(max(y_train.max(), y_test.max())) + 1
    alpha_f64, counts = inverse_class_weights(y_train, classes)
    alpha = torch.tensor(alpha_f64, dtype=dtype)

    model = make_model(features, case["hidden"], classes).to(dtype)
    lr = case.get("lr", ADAM["lr"])
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=tuple(ADAM["betas"]),
                                 eps=ADAM["eps"], weight_decay=ADAM["weight_decay"], foreach=False)
    inputs = torch.tensor(x_train, dtype=dtype)
    targets = torch.tensor(y_train, dtype=torch.int64)
    n = len(y_train)
    batch = case["batch_size"] or n
    steps_per_epoch = (n + batch - 1) // batch
    scheduler = make_scheduler(optimizer, case["schedule"], steps_per_epoch * case["epochs"]) if "schedule" in case else None
    sigmoid = case.get("loss") == "sigmoid-focal"

    out = os.path.join(CORE_FIXTURES, "parity", f"{case['name']}_{tag}")
    os.makedirs(out, exist_ok=True)
    if "data_from" not in case:
        np.save(os.path.join(out, "X_train.npy"), x_train)
        np.save(os.path.join(out, "y_train.npy"), y_train)
        np.save(os.path.join(out, "X_test.npy"), x_test)
        np.save(os.path.join(out, "y_test.npy"), y_test)
    # One metadata key only: the reference writer keeps metadata in a hash map, so several keys
    # would come out in a random order and the files would not be reproducible byte for byte.
    meta = {"format": "pt"}
    init = params_of(model)
    save_file(init, os.path.join(out, "init.safetensors"), metadata=meta)

    losses = {"epochs": [], "loss": [], "step_loss": []}
    if scheduler is not None or "clip_grad_norm" in case:
        losses["lr"] = []
        losses["grad_norm"] = []
    if case["name"] == "tutorial":
        # gamma-0 check: focal(gamma=0, weighted-mean) == cross_entropy(weight=alpha), initial model.
        with torch.no_grad():
            z = model(inputs)
            ce_w = F.cross_entropy(z, targets, weight=alpha)
            focal0 = reduce(focal_rows(z, targets, alpha, 0.0), targets, alpha, "weighted-mean")
        losses["init_cross_entropy_weighted"] = float(ce_w)
        losses["init_focal_gamma0_weighted_mean"] = float(focal0)

    grad0 = None
    for epoch in range(case["epochs"]):
        num, den = 0.0, 0.0
        batch_losses = []
        for start in range(0, n, batch):
            xb, tb = inputs[start:start + batch], targets[start:start + batch]
            optimizer.zero_grad()
            if sigmoid:
                loss = sigmoid_focal(model(xb), tb, case["sigmoid_alpha"], case["gamma"], case["reduction"])
            else:
                loss = reduce(focal_rows(model(xb), tb, alpha, case["gamma"]), tb, alpha, case["reduction"])
            loss.backward()
            if grad0 is None:
                grad0 = {k: p.grad.detach().clone().contiguous() for k, p in model.named_parameters()}
            if "lr" in losses:
                losses["lr"].append(float(optimizer.param_groups[0]["lr"]))
                if "clip_grad_norm" in case:
                    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), case["clip_grad_norm"], foreach=False)
                else:
                    norm = torch.nn.utils.get_total_norm([p.grad for p in model.parameters()], foreach=False)
                losses["grad_norm"].append(float(norm))
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            value = float(loss.item())
            batch_losses.append(value)
            d = float(len(tb) * classes) if sigmoid else denominator(tb, alpha, case["reduction"])
            num += value * d
            den += d
        losses["epochs"].append(epoch)
        losses["step_loss"].extend(batch_losses)
        if len(batch_losses) == 1:
            losses["loss"].append(batch_losses[0])
        else:
            losses["loss"].append(num if case["reduction"] == "sum" else num / den)
    save_file(grad0, os.path.join(out, "grad0.safetensors"), metadata=meta)
    final = params_of(model)
    save_file(final, os.path.join(out, "final.safetensors"), metadata=meta)
    dump_json(os.path.join(out, "losses.json"), losses)

    config = {
        "case": case["name"], "dtype": tag, "data": case["data"],
        "features": features, "classes": classes, "hidden": case["hidden"],
        "train_rows": n, "test_rows": int(len(y_test)), "train_class_counts": counts,
        "gamma": case["gamma"], "reduction": case["reduction"],
        "class_weights": "inverse", "alpha_float64": alpha_f64, "alpha": tensor_list(alpha),
        "optimizer": "adam", "lr": lr, "betas": ADAM["betas"], "eps": ADAM["eps"],
        "weight_decay": ADAM["weight_decay"], "foreach": False,
        "epochs": case["epochs"], "batch_size": batch, "shuffle": False,
        "init": f"torch.manual_seed({INIT_SEED}); nn.Sequential(...) built in float32, then .to({dtype})",
        "torch_version": torch.__version__,
    }
    for key in ("data_from", "schedule", "clip_grad_norm", "loss", "sigmoid_alpha"):
        if key in case:
            config[key] = case[key] + "_" + tag if key == "data_from" else case[key]
    dump_json(os.path.join(out, "config.json"), config)

    with torch.no_grad():
        pred = model(torch.tensor(x_test, dtype=dtype)).argmax(dim=1).numpy()
    labels = list(range(classes))
    p, r, f1, s = metrics.precision_recall_fscore_support(y_test, pred, labels=labels, zero_division=0)
    evaluation = {
        "labels": labels,
        "confusion_matrix": metrics.confusion_matrix(y_test, pred, labels=labels).tolist(),
        "confusion_layout": "[true][pred]",
        "accuracy": float(metrics.accuracy_score(y_test, pred)),
        "precision": [float(v) for v in p], "recall": [float(v) for v in r],
        "f1": [float(v) for v in f1], "support": [int(v) for v in s],
        "balanced_accuracy": float(metrics.balanced_accuracy_score(y_test, pred)),
        "macro_f1": float(metrics.f1_score(y_test, pred, labels=labels, average="macro", zero_division=0)),
        "predictions": [int(v) for v in pred],
    }
    dump_json(os.path.join(out, "eval.json"), evaluation)
    return {"dir": os.path.relpath(out, ROOT), "first": losses["loss"][0], "last": losses["loss"][-1],
            "acc": evaluation["accuracy"], "bacc": evaluation["balanced_accuracy"], "losses": losses}

# MARK: - Focal loss gradient cases


def analytic_grad(z, t, alpha, gamma):
    """d l / d z for one row, float64 numpy: a*(q^g + g*q^(g-1)*pt*ce)*(softmax(z) - e_t), q = 1 - pt.

    At q == 0 the bracket's second term has the limit 0 (q^(g-1) * ce ~ q^g), for any gamma >= 0.
    """
    z = np.asarray(z, dtype=np.float64)
    m = z.max()
    lse = m + math.log(np.exp(z - m).sum())
    p = np.exp(z - lse)
    ce = lse - z[t]
    pt = math.exp(-ce)
    q = 1.0 - pt
    second = 0.0 if (q == 0.0 or gamma == 0.0) else gamma * q ** (gamma - 1.0) * pt * ce
    scale = alpha[t] * ((q ** gamma if gamma != 0.0 else 1.0) + second)
    onehot = np.zeros_like(z)
    onehot[t] = 1.0
    return scale * (p - onehot)


def focal_grad_cases():
    rows = {
        2: {"alpha": [1.25, 5.0],
            "logits": [[0.5, -0.3], [2.0, 1.0], [30.0, -30.0], [12.0, -12.0], [-3.0, 4.0]],
            "targets": [1, 0, 0, 0, 0]},
        3: {"alpha": [1.5, 3.0, 6.0],
            "logits": [[0.2, -1.0, 0.5], [1.5, 0.3, -2.0], [40.0, -40.0, 0.0], [10.0, -5.0, -8.0],
                       [-2.0, 3.0, 1.0]],
            "targets": [2, 1, 0, 0, 0]},
    }
    cases = []
    worst = 0.0
    for k in (2, 3):
        for gamma in (0.0, 0.5, 2.0, 5.0):
            for reduction in ("mean", "weighted-mean", "sum"):
                spec = rows[k]
                z = torch.tensor(spec["logits"], dtype=torch.float64, requires_grad=True)
                t = torch.tensor(spec["targets"], dtype=torch.int64)
                a = torch.tensor(spec["alpha"], dtype=torch.float64)
                per_row = focal_rows(z, t, a, gamma)
                loss = reduce(per_row, t, a, reduction)
                loss.backward()
                grad = z.grad.clone()
                limit_rows = []
                denom = denominator(t, a, reduction)
                for i in range(len(spec["targets"])):
                    analytic = analytic_grad(spec["logits"][i], spec["targets"][i], spec["alpha"], gamma) / denom
                    if not torch.isfinite(grad[i]).all():
                        # torch's pow backward at 1 - pt == 0 with gamma < 1: 0 * inf = NaN.
                        limit_rows.append(i)
                        grad[i] = torch.zeros(k, dtype=torch.float64)
                    else:
                        worst = max(worst, float(np.abs(grad[i].numpy() - analytic).max()))
                cases.append({
                    "classes": k, "gamma": gamma, "reduction": reduction, "alpha": spec["alpha"],
                    "logits": spec["logits"], "targets": spec["targets"],
                    "row_loss": [float(v) for v in per_row.detach().tolist()],
                    "loss": float(loss.detach()),
                    "grad": [[float(v) for v in row] for row in grad.tolist()],
                    "limit_rows": limit_rows,
                })
    doc = {
        "description": "Focal loss per row, reduced loss and d(loss)/d(logits) from torch autograd in float64. "
                       "Per row: ce = logsumexp(z) - z[t]; pt = exp(-ce); l = alpha[t] * (1 - pt)^gamma * ce. "
                       "mean = sum(l)/rows, weighted-mean = sum(l)/sum(alpha[t]), sum = sum(l). "
                       "logits [rows][classes], grad [rows][classes].",
        "limit_rows_note": "Rows listed in limit_rows have pt == 1 exactly in float64 (1 - pt == 0) and gamma < 1: "
                           "torch autograd of (1 - pt)**gamma gives NaN there (0 * inf), so the analytic limit 0 "
                           "is recorded as that row's gradient instead.",
        "precision_note": "Near pt = 1 (rows like logits [12, -12] with target 0: ce ~ 3.8e-11) the values depend on "
                          "how ce and 1 - pt are rounded (torch: ce = log(sum(exp(z - max))) - (z[t] - max), "
                          "1 - pt = 1 - exp(-ce)). Computing ce = logsumexp(z) - z[t] (with or without "
                          "-expm1(-ce)) differs there by up to ~4e-5 relative but under 3e-15 absolute over all "
                          "cases; compare with |a - b| <= 1e-12 + 1e-6 * |b|.",
        "generator": "scripts/pytorch_reference.py",
        "cases": cases,
    }
    dump_json(os.path.join(CORE_FIXTURES, "focal_grad_cases.json"), doc)
    return len(cases), worst

# MARK: - Learning-rate schedules


def lr_schedules():
    """The rate of every step (before each optimizer.step) under PyTorch's schedulers, float64."""
    specs = []
    for total in (12, 37):
        for w in (0, 1, 5):
            for kind in ("constant", "cosine", "linear", "step"):
                if kind == "constant" and w == 0:
                    continue
                spec = {"kind": kind, "warmup_steps": w, "warmup_start_factor": 0.1 if w != 5 else 0.25,
                        "min_lr": 0.0 if total == 12 else 3e-4, "step_size": 4, "step_gamma": 0.3}
                specs.append((total, spec))
    cases = []
    for total, spec in specs:
        p = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.SGD([p], lr=0.01)
        sched = make_scheduler(opt, spec, total)
        rates = []
        for _ in range(total):
            rates.append(float(opt.param_groups[0]["lr"]))
            opt.step()
            sched.step()
        cases.append({"lr": 0.01, "total_steps": total, **spec, "rates": rates})
    dump_json(os.path.join(CORE_FIXTURES, "lr_schedules.json"),
              {"description": "Rates of optimizer steps 0..<total_steps under PyTorch's schedulers "
                              "(SequentialLR([LinearLR(F, 1, W), main], [W]) when warmup_steps > 0; main: "
                              "LambdaLR(1) for constant, CosineAnnealingLR(total - W, min_lr), "
                              "LinearLR(1, min_lr / lr, total - W), StepLR(step_size, step_gamma)); "
                              "scheduler.step() after every optimizer.step().",
               "generator": "scripts/pytorch_reference.py", "torch_version": torch.__version__, "cases": cases})
    return len(cases)

# MARK: - Sampler class counts (imbalanced-learn)


def sampler_counts():
    """Per-class counts after imbalanced-learn's RandomUnderSampler / RandomOverSampler with the default
    sampling_strategy ("auto"), for label vectors given by their class counts (a class with count 0 is absent)."""
    from imblearn.over_sampling import RandomOverSampler
    from imblearn.under_sampling import RandomUnderSampler
    import imblearn
    inputs = [[632, 168], [225, 113, 67, 45], [5, 1, 7], [40, 0, 9, 9, 100], [3, 3]]
    cases = []
    for counts in inputs:
        y = np.concatenate([np.full(c, k, dtype=np.int64) for k, c in enumerate(counts)])
        X = np.zeros((len(y), 1))
        out = {"counts": counts}
        for name, sampler in (("undersample", RandomUnderSampler(random_state=0)),
                              ("oversample", RandomOverSampler(random_state=0))):
            _, ys = sampler.fit_resample(X, y)
            out[name] = [int(v) for v in np.bincount(ys, minlength=len(counts))]
        cases.append(out)
    dump_json(os.path.join(CORE_FIXTURES, "sampler_counts.json"),
              {"description": "Per-class counts (classes 0..K-1; 0 for an absent class) after imbalanced-learn's "
                              "RandomUnderSampler and RandomOverSampler, default sampling_strategy.",
               "generator": "scripts/pytorch_reference.py", "imblearn_version": imblearn.__version__, "cases": cases})
    return len(cases)

# MARK: - Safetensors samples for FocalDataTests


def safetensors_samples():
    os.makedirs(DATA_FIXTURES, exist_ok=True)
    mixed = {
        "weight": torch.tensor([[1.5, -2.25, 3.0], [0.1, 1e-30, -4.5e20]], dtype=torch.float32),
        "bias64": torch.tensor([math.pi, -math.e, 1e-300, 6.02214076e23], dtype=torch.float64),
        "counts": torch.tensor([0, -1, 2**40, -(2**62)], dtype=torch.int64),
        "index32": torch.tensor([[7, -8], [2**31 - 1, -(2**31)]], dtype=torch.int32),
        "scalar": torch.tensor(0.75, dtype=torch.float32),
        "empty": torch.zeros((0, 3), dtype=torch.float64),
    }
    save_file(mixed, os.path.join(DATA_FIXTURES, "mixed.safetensors"), metadata={"format": "pt"})
    values = {name: {"dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape),
                     "values": [int(v) if not t.dtype.is_floating_point else float(v) for v in t.flatten().tolist()]}
              for name, t in mixed.items()}
    # The tutorial's initial parameters (same bytes as parity/tutorial_<dtype>/init.safetensors).
    probes = {}
    for tag, dtype in DTYPES.items():
        model = make_model(20, [64], 2).to(dtype)
        params = params_of(model)
        save_file(params, os.path.join(DATA_FIXTURES, f"tutorial_init_{tag}.safetensors"),
                  metadata={"format": "pt"})
        probes[tag] = {}
        for name, t in params.items():
            flat = t.flatten()
            idx = sorted({0, 1, flat.numel() // 2, flat.numel() - 1})
            probes[tag][name] = {"shape": list(t.shape), "index": idx,
                                 "values": [float(flat[i]) for i in idx], "sum_float64": float(flat.double().sum())}
    dump_json(os.path.join(DATA_FIXTURES, "values.json"), {"mixed": values, "tutorial_init": probes,
                                                           "generator": "scripts/pytorch_reference.py"})

# MARK: - Main


def main():
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, numpy {np.__version__}, python {sys.version.split()[0]}")
    only = None
    if len(sys.argv) > 2 and sys.argv[1] == "--only":
        only = set(sys.argv[2].split(","))
    summary = []
    for case in CASES + CONTROL_CASES:
        if only is not None and case["name"] not in only:
            continue
        for tag in DTYPES:
            summary.append((case["name"], tag, run_case(case, tag)))
    ncases, worst = (0, 0.0)
    if only is None:
        ncases, worst = focal_grad_cases()
        safetensors_samples()
    if only is None or "schedules" in only:
        print(f"lr_schedules.json: {lr_schedules()} schedules")
    if only is None or "sampler_counts" in only:
        print(f"sampler_counts.json: {sampler_counts()} label vectors")

    for name, tag, r in summary:
        print(f"{name:>10} {tag}: loss epoch0 {r['first']!r:>22} last {r['last']!r:>22}  "
              f"test acc {r['acc']:.4f} balanced {r['bacc']:.4f}  -> {r['dir']}")
        if "init_cross_entropy_weighted" in r["losses"]:
            ce, f0 = r["losses"]["init_cross_entropy_weighted"], r["losses"]["init_focal_gamma0_weighted_mean"]
            print(f"{'':>10} {tag}: gamma-0 check: cross_entropy(weight=alpha) {ce!r} "
                  f"focal(gamma 0, weighted-mean) {f0!r} |diff| {abs(ce - f0):.3e}")
    print(f"focal_grad_cases.json: {ncases} cases; max |autograd - analytic| on finite rows {worst:.3e}")
    total = 0
    for base in (CORE_FIXTURES, DATA_FIXTURES):
        for dirpath, _, files in os.walk(base):
            total += sum(os.path.getsize(os.path.join(dirpath, f)) for f in files)
    print(f"fixture bytes (FocalCoreTests + FocalDataTests/safetensors): {total}")


if __name__ == "__main__":
    main()
