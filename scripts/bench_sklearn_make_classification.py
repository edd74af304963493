#!/usr/bin/env python3
"""Times scikit-learn's make_classification + train_test_split at 1,000,000 x 20 (the tutorial's other parameters).

Usage: python3 scripts/bench_sklearn_make_classification.py [samples] [features]
"""
import sys
import time

from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
f = int(sys.argv[2]) if len(sys.argv) > 2 else 20
for trial in range(1, 4):
    t0 = time.perf_counter()
    X, y = make_classification(n_samples=n, n_features=f, n_informative=10, n_redundant=5, n_repeated=0,
                               n_classes=2, n_clusters_per_class=2, weights=[0.8, 0.2], flip_y=0.01,
                               class_sep=1.0, random_state=42)
    t1 = time.perf_counter()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, random_state=42)
    t2 = time.perf_counter()
    print(f"trial {trial}: {n} x {f}: make_classification {t1 - t0:.3f} s, split {t2 - t1:.3f} s, "
          f"total {t2 - t0:.3f} s, {n / (t2 - t0):.0f} rows/s")
