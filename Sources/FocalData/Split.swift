// Split: scikit-learn's train_test_split (ShuffleSplit and StratifiedShuffleSplit) on row indices.

import FocalFormats
// MARK: - Index splits

/// The index arrays `train_test_split(..., shuffle=True)` uses, in the order it returns rows.
public struct SplitIndices: Sendable, Equatable {
    /// `[n_train]` row indices of the (already shuffled) data set.
    public var train: [Int]
    /// `[n_test]` row indices.
    public var test: [Int]
}

/// ShuffleSplit: one `RandomState(seed).permutation(n)`; test = first `n_test`, train = next `n_train`.
public func shuffleSplit(samples n: Int, train nTrain: Int, test nTest: Int, seed: UInt32) -> SplitIndices {
    var rng = RandomState(seed: seed)
    let p = rng.permutation(n)
    return SplitIndices(train: Array(p[nTest..<(nTest + nTrain)]), test: Array(p[0..<nTest]))
}

/// `sklearn.utils.extmath._approximate_mode(class_counts, n_draws, rng)`: floor of the
/// proportional share, the remainder handed out by decreasing fractional part, ties broken with
/// `rng.choice(inds, k, replace=False)` (= `inds[permutation(len(inds))[:k]]` in the legacy generator).
/// `counts` `[K]`; returns `[K]`.
public func approximateMode(counts: [Int], draws: Int, rng: inout RandomState) -> [Int] {
    let total = Double(counts.reduce(0, +))
    let continuous = counts.map { Double($0) / total * Double(draws) }
    var floored = continuous.map { $0.rounded(.down) }
    var needToAdd = draws - Int(floored.reduce(0, +))
    if needToAdd > 0 {
        let remainder = zip(continuous, floored).map { $0 - $1 }
        let values = Array(Set(remainder)).sorted(by: >)
        for value in values {
            let inds = remainder.indices.filter { remainder[$0] == value }
            let addNow = min(inds.count, needToAdd)
            let perm = rng.permutation(inds.count)
            for t in 0..<addNow { floored[inds[perm[t]]] += 1 }
            needToAdd -= addNow
            if needToAdd == 0 { break }
        }
    }
    return floored.map { Int($0) }
}

/// StratifiedShuffleSplit (`n_splits=1`) as in scikit-learn 1.9.1 `_split.py`, on labels `y` `[n]`
/// with values `0..<classes`. Every class must have at least 2 rows (scikit-learn ignores classes
/// absent from `y`; here an absent class is an error too, so the classes are exactly `np.unique(y)`).
/// Throws when a class has fewer than 2 rows or a part is smaller than the class count.
public func stratifiedShuffleSplit(labels y: [Int32], classes: Int, train nTrain: Int, test nTest: Int,
                                   seed: UInt32) throws -> SplitIndices {
    let counts = labelCounts(y, classes: classes).map { Int($0) }
    if let bad = counts.indices.first(where: { counts[$0] < 2 }) {
        throw DataError("--stratify: class \(bad) has only \(counts[bad]) row(s); stratification needs at least 2 per class")
    }
    let present = Array(0..<classes)
    if nTrain < classes {
        throw DataError("--stratify: \(nTrain) training rows are fewer than the \(classes) classes (change --test-fraction)")
    }
    if nTest < classes {
        throw DataError("--stratify: \(nTest) test rows are fewer than the \(classes) classes (change --test-fraction)")
    }
    // class_indices: argsort(y, stable) split by class, i.e. ascending rows per class.
    var classIndices = [[Int]](repeating: [], count: classes)
    for (i, c) in present.enumerated() { classIndices[c].reserveCapacity(counts[i]) }
    for (r, v) in y.enumerated() { classIndices[Int(v)].append(r) }

    var rng = RandomState(seed: seed)
    let nI = approximateMode(counts: counts, draws: nTrain, rng: &rng)
    let remaining = zip(counts, nI).map { $0 - $1 }
    let tI = approximateMode(counts: remaining, draws: nTest, rng: &rng)
    var train = [Int](), test = [Int]()
    train.reserveCapacity(nTrain)
    test.reserveCapacity(nTest)
    for (i, c) in present.enumerated() {
        let perm = rng.permutation(counts[i])
        let idx = classIndices[c]
        for t in 0..<nI[i] { train.append(idx[perm[t]]) }
        for t in nI[i]..<(nI[i] + tI[i]) { test.append(idx[perm[t]]) }
    }
    rng.shuffle(&train)
    rng.shuffle(&test)
    return SplitIndices(train: train, test: test)
}
