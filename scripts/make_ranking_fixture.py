#!/usr/bin/env python3
"""Makes Tests/FocalCoreTests/Fixtures/ranking/cases.json: one-vs-rest ROC-AUC and average
precision from scikit-learn (roc_auc_score, average_precision_score) on softmax probabilities
with many tied scores, for 2 and 4 classes. Run from the repository root:
    python3 scripts/make_ranking_fixture.py
"""
import json
import os

import numpy as np
import sklearn
from sklearn.metrics import average_precision_score, roc_auc_score


def make_case(name, rows, classes, seed, levels):
    rng = np.random.default_rng(seed)
    # Imbalanced labels (class c has weight ~ 1 / (c + 1)^2).
    w = 1.0 / (np.arange(classes) + 1.0) ** 2
    labels = rng.choice(classes, size=rows, p=w / w.sum())
    # Logits drawn from a few levels so many rows share exactly the same probabilities (ties),
    # shifted towards the true class so the curves are not trivial.
    logits = rng.integers(0, levels, size=(rows, classes)).astype(np.float64) * 0.5
    logits[np.arange(rows), labels] += rng.integers(0, 3, size=rows) * 0.5
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    probs = e / e.sum(axis=1, keepdims=True)
    roc, ap, distinct = [], [], []
    for c in range(classes):
        y = (labels == c).astype(np.int64)
        roc.append(float(roc_auc_score(y, probs[:, c])))
        ap.append(float(average_precision_score(y, probs[:, c])))
        distinct.append(int(len(np.unique(probs[:, c]))))
    return {
        "name": name, "rows": rows, "classes": classes,
        # [rows, classes] row-major, as the hex of each float64's bits: exact whatever the JSON
        # reader (a decimal parsed with a different rounding would split or merge ties).
        "probabilities_bits": ["%016x" % v for v in probs.reshape(-1).view(np.uint64)],
        "labels": [int(v) for v in labels],                        # [rows]
        "roc_auc": roc, "average_precision": ap,                   # [classes], one-vs-rest
        "distinct_scores": distinct,
    }


def main():
    cases = [
        make_case("binary_ties", 300, 2, 7, 4),
        make_case("four_class_ties", 400, 4, 11, 3),
        make_case("four_class_fine", 257, 4, 13, 40),
    ]
    out = {"sklearn": sklearn.__version__, "numpy": np.__version__, "cases": cases}
    path = os.path.join("Tests", "FocalCoreTests", "Fixtures", "ranking", "cases.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=None, separators=(",", ":"))
        f.write("\n")
    for c in cases:
        print(c["name"], "distinct", c["distinct_scores"], "roc", c["roc_auc"], "ap", c["average_precision"])


if __name__ == "__main__":
    main()
