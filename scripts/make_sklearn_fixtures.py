#!/usr/bin/env python3
"""Writes scikit-learn make_classification + train_test_split fixtures for the FocalData tests.

Usage (from the repository root): python3 scripts/make_sklearn_fixtures.py
Output: Tests/FocalDataTests/Fixtures/sklearn/<name>/{X_train,y_train,X_test,y_test}.npy and
params.json (the exact parameters, in the names of ClassificationSpec / SplitSpec).
"""
import json
import os
import shutil

import numpy as np
import sklearn
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split

OUT = os.path.join("Tests", "FocalDataTests", "Fixtures", "sklearn")

# name -> (make_classification kwargs, test_size, split random_state, stratify)
# Comments name the code path each set exercises.
CASES = {
    # The tutorial's call (ratio 4/1024: tracking selection).
    "tutorial": (dict(n_samples=1000, n_features=20, n_informative=10, n_redundant=5, n_repeated=0,
                      n_classes=2, n_clusters_per_class=2, weights=[0.8, 0.2], flip_y=0.01,
                      class_sep=1.0, random_state=42), 0.2, 42, False),
    # 4 classes, weights of length K-1, odd sample count (ratio 8/256 -> permutation).
    "four_classes_k1_weights": (dict(n_samples=301, n_features=12, n_informative=8, n_redundant=2,
                                     n_classes=4, n_clusters_per_class=2, weights=[0.4, 0.3, 0.2],
                                     flip_y=0.05, random_state=7), 0.25, 3, False),
    # 5 classes, 1 cluster each, defaults weights (None), ratio 5/8 -> permutation, odd informative count.
    "five_classes": (dict(n_samples=257, n_features=9, n_informative=3, n_redundant=2, n_repeated=1,
                          n_classes=5, n_clusters_per_class=1, flip_y=0.0, random_state=11), 0.3, 5, False),
    # Weights summing to more than 1: later clusters cut short.
    "weights_over_one": (dict(n_samples=200, n_features=10, n_informative=4, n_redundant=2,
                              n_classes=2, weights=[0.9, 0.9], random_state=3), 0.2, 1, False),
    # flip_y 0.3, repeated features, default parameters otherwise (ratio 4/4 -> reservoir).
    "flip_repeated_reservoir": (dict(n_samples=333, n_features=10, n_informative=2, n_redundant=2,
                                     n_repeated=3, flip_y=0.3, random_state=2024), 0.15, 9, False),
    # hypercube=False with random shift and scale.
    "polytope_random_shift_scale": (dict(n_samples=211, n_features=8, n_informative=4, n_redundant=1,
                                         n_repeated=1, n_classes=3, n_clusters_per_class=1,
                                         hypercube=False, shift=None, scale=None, class_sep=1.7,
                                         random_state=123), 0.2, 77, False),
    # shuffle=False, scalar shift and scale, tracking selection (ratio 2/512).
    "no_shuffle_scalar_shift_scale": (dict(n_samples=150, n_features=14, n_informative=9, n_redundant=3,
                                           n_classes=2, n_clusters_per_class=1, shift=0.5, scale=2.5,
                                           shuffle=False, random_state=5), 0.2, 13, False),
    # Reservoir with more bits: 8 clusters of 8 vertices (ratio 1.0), odd n * informative.
    "reservoir_odd": (dict(n_samples=99, n_features=7, n_informative=3, n_redundant=0, n_repeated=2,
                           n_classes=4, n_clusters_per_class=2, flip_y=0.1, random_state=0), 0.33, 0, False),
    # Three classes with weights of length K summing to less than 1 (shortfall spread cyclically).
    "three_classes_shortfall": (dict(n_samples=101, n_features=6, n_informative=3, n_redundant=1,
                                     n_classes=3, weights=[0.2, 0.2, 0.2], random_state=17), 0.25, 21, False),
    # Stratified split of an imbalanced 3-class set.
    "stratified": (dict(n_samples=403, n_features=10, n_informative=4, n_redundant=2, n_classes=3,
                        weights=[0.6, 0.3], flip_y=0.02, random_state=31), 0.2, 8, True),
    # More than 30 informative features: the first columns of the vertices come from randint(2).
    "wide_informative": (dict(n_samples=61, n_features=33, n_informative=31, n_redundant=1, n_classes=3,
                              random_state=12), 0.2, 6, False),
    # More rows than one replay checkpoint block (4096 rows): 3 blocks; odd n * informative, so the
    # noise call starts with the spare of the informative call.
    "many_blocks": (dict(n_samples=8193, n_features=4, n_informative=3, n_redundant=0, n_classes=2,
                         flip_y=0.05, random_state=99), 0.1, 4, False),
}


def transform(v):
    """shift / scale in ClassificationSpec's Codable form of ColumnTransform."""
    return {"random": {}} if v is None else {"value": {"_0": float(v)}}


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    for name, (kw, test_size, split_seed, stratify) in CASES.items():
        X, y = make_classification(**kw)
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=test_size, random_state=split_seed,
                                              stratify=y if stratify else None)
        d = os.path.join(OUT, name)
        os.makedirs(d)
        np.save(os.path.join(d, "X_train.npy"), Xtr)
        np.save(os.path.join(d, "X_test.npy"), Xte)
        np.save(os.path.join(d, "y_train.npy"), ytr.astype("<i8"))
        np.save(os.path.join(d, "y_test.npy"), yte.astype("<i8"))
        params = {
            "samples": kw["n_samples"], "features": kw["n_features"],
            "informative": kw.get("n_informative", 2), "redundant": kw.get("n_redundant", 2),
            "repeated": kw.get("n_repeated", 0), "classes": kw.get("n_classes", 2),
            "clustersPerClass": kw.get("n_clusters_per_class", 2), "weights": kw.get("weights"),
            "flipY": kw.get("flip_y", 0.01), "classSep": kw.get("class_sep", 1.0),
            "hypercube": kw.get("hypercube", True),
            "shift": transform(kw.get("shift", 0.0)), "scale": transform(kw.get("scale", 1.0)),
            "shuffle": kw.get("shuffle", True), "seed": kw["random_state"],
        }
        meta = {"classification": params,
                "split": {"testFraction": test_size, "seed": split_seed, "stratify": stratify},
                "sklearn": sklearn.__version__, "numpy": np.__version__}
        with open(os.path.join(d, "params.json"), "w") as f:
            json.dump(meta, f, indent=1, sort_keys=True)
        print(f"{name}: X {X.shape}, train {len(ytr)}, test {len(yte)}")


if __name__ == "__main__":
    main()
