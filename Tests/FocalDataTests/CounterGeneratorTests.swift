// Tests of CounterDataSource: validation, cluster sizes, determinism, rank-count invariance and
// statistical faithfulness to make_classification's construction.
import XCTest
import FocalData
import FocalFormats

private func counterSpec(_ edit: (inout DatasetSpec) -> Void = { _ in }) -> DatasetSpec {
    var spec = DatasetSpec()
    spec.generator = .counter
    edit(&spec)
    return spec
}

/// `n` split into `ranks` contiguous ranges (rank r gets `n r / ranks ..< n (r + 1) / ranks`).
private func shards(_ n: Int, _ ranks: Int) -> [Range<Int>] {
    (0..<ranks).map { r in (n * r / ranks)..<(n * (r + 1) / ranks) }
}

final class CounterGeneratorTests: XCTestCase {
    // MARK: - Validation and derived sizes

    func testValidationErrorsNameTheField() {
        let bad: [(ClassificationPlan.Field, (inout DatasetSpec) -> Void)] = [
            (.stratify, { $0.split.stratify = true }),
            (.informative, { $0.classification.informative = 1; $0.classification.classes = 3 }),
            (.weights, { $0.classification.weights = [0.1, 0.2, 0.3] }),
            (.features, { $0.classification.informative = 15; $0.classification.redundant = 6 }),
            (.testFraction, { $0.split.testFraction = 1 }),
            (.flipY, { $0.classification.flipY = 1.5 }),
            (.classSep, { $0.classification.classSep = 0 }),
            (.scale, { $0.classification.scale = .value(0) }),
            (.samples, { $0.classification.samples = 0 }),
            (.generator, { $0.generator = .sklearn }),
            (.testFraction, { $0.classification.samples = 1; $0.split.testFraction = 0.5 }),
        ]
        for (field, edit) in bad {
            XCTAssertThrowsError(try CounterDataSource(counterSpec(edit))) { error in
                XCTAssertEqual((error as? ClassificationPlan.Invalid)?.field, field, "error '\(error)' should name \(field)")
            }
        }
        // Equality in the column budget and log2 bound is allowed, as in scikit-learn.
        XCTAssertNoThrow(try CounterDataSource(counterSpec {
            $0.classification.features = 4; $0.classification.informative = 2; $0.classification.redundant = 2
        }))
    }

    func testClusterSizesFollowScikitLearn() throws {
        XCTAssertEqual(try CounterDataSource(counterSpec()).plan.clusterSizes, [400, 100, 400, 100])
        let three = try CounterDataSource(counterSpec {
            $0.classification.samples = 101; $0.classification.classes = 3; $0.classification.weights = [0.2, 0.2, 0.2]
            $0.classification.informative = 3
        })
        XCTAssertEqual(three.plan.clusterSizes, [17, 17, 17, 17, 17, 16])
        // Weights summing to more than 1: later clusters are cut short (rows 90-99 class 0, cluster 3 empty).
        var spec = counterSpec { $0.classification.samples = 100; $0.classification.weights = [0.9, 0.9] }
        spec.classification.shuffle = false
        let source = try CounterDataSource(spec)
        XCTAssertEqual(source.plan.clusterStarts, [0, 45, 90, 100, 100])
        XCTAssertEqual(source.trainCount + source.testCount, 100)
        XCTAssertEqual(source.testCount, 20)
        // ceil(0.07 * 100) = 8, as scikit-learn (0.07 * 100 = 7.000000000000001).
        XCTAssertEqual(try CounterDataSource(counterSpec { $0.classification.samples = 100; $0.split.testFraction = 0.07 }).testCount, 8)
    }

    // MARK: - Determinism and independence from the rank count

    func testSameSpecSameRowsAndSeedMatters() throws {
        let spec = counterSpec { $0.classification.samples = 500 }
        let a = try CounterDataSource(spec).rows(train: [0..<400], test: [0..<100])
        let b = try CounterDataSource(spec).rows(train: [0..<400], test: [0..<100])
        XCTAssertEqual(a.train, b.train)
        XCTAssertEqual(a.test, b.test)
        var other = spec
        other.classification.seed = 43
        XCTAssertNotEqual(try CounterDataSource(other).rows(.train, ranges: [0..<10]).x, a.train.x.prefix(200).map { $0 })
        var otherSplit = spec
        otherSplit.split.seed = 7
        let c = try CounterDataSource(otherSplit).rows(train: [0..<400], test: [0..<100])
        XCTAssertNotEqual(c.test, a.test, "the split seed changes the test set")
        // Same data set rows, only split differently: the multisets of labels agree.
        XCTAssertEqual((c.train.y + c.test.y).sorted(), (a.train.y + a.test.y).sorted())
    }

    func testShardsForAnyRankCountConcatenateToTheFullSet() throws {
        for (samples, fraction) in [(1003, 0.2), (20, 0.1)] {   // the second has 2 test rows for up to 8 ranks
            let source = try CounterDataSource(counterSpec {
                $0.classification.samples = samples; $0.split.testFraction = fraction
                $0.classification.shift = .random; $0.classification.scale = .random
            })
            let full = try source.rows(train: [0..<source.trainCount], test: [0..<source.testCount])
            for ranks in 1...8 {
                var train = Rows(features: source.features), test = Rows(features: source.features)
                for r in 0..<ranks {
                    let part = try source.rows(train: [shards(source.trainCount, ranks)[r]], test: [shards(source.testCount, ranks)[r]])
                    train.x += part.train.x; train.y += part.train.y
                    test.x += part.test.x; test.y += part.test.y
                }
                XCTAssertEqual(train, full.train, "train, \(ranks) ranks, \(samples) samples")
                XCTAssertEqual(test, full.test, "test, \(ranks) ranks, \(samples) samples")
            }
            // Several ranges in one call equal the concatenation of single-range calls.
            let picked = try source.rows(.train, ranges: [0..<3, 5..<5, 7..<9])
            XCTAssertEqual(picked.y, Array(full.train.y[0..<3] + full.train.y[7..<9]))
        }
    }

    func testSplitCoversEveryRowOnceAndRangesAreChecked() throws {
        let source = try CounterDataSource(counterSpec { $0.classification.samples = 997 })
        var hit = [Int](repeating: 0, count: 997)
        for t in 0..<source.testCount { hit[source.datasetRow(.test, position: t)] += 1 }
        for t in 0..<source.trainCount { hit[source.datasetRow(.train, position: t)] += 1 }
        XCTAssertEqual(hit, [Int](repeating: 1, count: 997))
        XCTAssertThrowsError(try source.rows(.test, ranges: [0..<(source.testCount + 1)]))
        XCTAssertThrowsError(try source.rows(.train, ranges: [5..<9, 2..<4]))
        // No test set: train positions are the data set rows in order.
        let whole = try CounterDataSource(counterSpec { $0.classification.samples = 50; $0.split.testFraction = 0 })
        XCTAssertEqual(whole.testCount, 0)
        XCTAssertEqual(whole.datasetRow(.train, position: 17), 17)
    }

    // MARK: - Statistical faithfulness (200k rows)

    /// 200k rows, 3 classes, random shift and scale, repeated columns, no test set.
    static let big: (source: CounterDataSource, rows: Rows) = {
        let source = try! CounterDataSource(counterSpec {
            $0.classification.samples = 200_000
            $0.classification.features = 12
            $0.classification.informative = 4
            $0.classification.redundant = 3
            $0.classification.repeated = 2
            $0.classification.classes = 3
            $0.classification.weights = [0.5, 0.3]
            $0.classification.flipY = 0.05
            $0.classification.shift = .random
            $0.classification.scale = .random
            $0.split.testFraction = 0
        })
        return (source, try! source.rows(.train, ranges: [0..<source.trainCount]))
    }()

    /// Output column of each pre-shuffle column.
    private func outputColumn(_ source: CounterDataSource) -> [Int] {
        var out = [Int](repeating: 0, count: source.features)
        for (j, c) in source.columnOrder.enumerated() { out[c] = j }
        return out
    }

    /// The pre-shift, pre-scale value of pre-shuffle column `c` in row `i`.
    private func unscaled(_ s: CounterDataSource, _ rows: Rows, _ i: Int, _ c: Int, _ col: [Int]) -> Double {
        rows.x[i * s.features + col[c]] / s.scales[c] - s.shifts[c]
    }

    func testClassProportionsAndFlipRate() {
        let (s, rows) = Self.big
        let n = Double(rows.count), k = s.classes, flipY = 0.05
        var counts = [Int](repeating: 0, count: k)
        var flipped = 0
        for i in 0..<rows.count {
            counts[Int(rows.y[i])] += 1
            if Int(rows.y[i]) != s.cluster(ofGenerated: s.generatedRow(i)) % k { flipped += 1 }
        }
        let sizes = s.plan.clusterSizes
        for c in 0..<k {
            let before = Double(stride(from: c, to: sizes.count, by: k).map { sizes[$0] }.reduce(0, +)) / n
            let p = before * (1 - flipY) + flipY / Double(k)
            let tol = 5 * (p * (1 - p) / n).squareRoot()
            print("class \(c): proportion \(Double(counts[c]) / n), expected \(p), tolerance \(tol)")
            XCTAssertEqual(Double(counts[c]) / n, p, accuracy: tol, "class \(c) proportion")
        }
        let q = flipY * (1 - 1 / Double(k))
        let tol = 5 * (q * (1 - q) / n).squareRoot()
        print("flip rate \(Double(flipped) / n), expected \(q), tolerance \(tol)")
        XCTAssertEqual(Double(flipped) / n, q, accuracy: tol, "rate of labels differing from the cluster's class")
    }

    /// Per-column means and variances against the construction's population values: informative
    /// column j of cluster k ~ N(c_kj, sum_i A_k[i,j]^2), redundant r ~ N(c_k B_r, |A_k B_r|^2),
    /// noise ~ N(0, 1); mixture over clusters with weights size_k / n; then (x + shift) * scale.
    /// Tolerance 5 standard errors (sqrt(var / n) for means, sqrt((m4 - var^2) / n) for variances).
    func testColumnMeansAndVariancesMatchTheConstruction() {
        let (s, rows) = Self.big
        let sizes = s.plan.clusterSizes
        let n = rows.count, inf = 4, red = 3, f = s.features
        let col = outputColumn(s)
        // Population mean and variance of each pre-shuffle column (before shift/scale).
        var mean = [Double](repeating: 0, count: f), second = [Double](repeating: 0, count: f)
        for k in 0..<sizes.count {
            let w = Double(sizes[k]) / Double(n)
            let a = { (i: Int, j: Int) in s.transforms[(k * inf + i) * inf + j] }
            var mu = [Double](repeating: 0, count: f), v = [Double](repeating: 1, count: f)
            for j in 0..<inf {
                mu[j] = s.centres[k * inf + j]
                v[j] = (0..<inf).map { a($0, j) * a($0, j) }.reduce(0, +)
            }
            for r in 0..<red {
                let b = { (j: Int) in s.redundantMap[j * red + r] }
                mu[inf + r] = (0..<inf).map { mu[$0] * b($0) }.reduce(0, +)
                v[inf + r] = (0..<inf).map { i in let t = (0..<inf).map { a(i, $0) * b($0) }.reduce(0, +); return t * t }.reduce(0, +)
            }
            for (r, src) in s.repeatedSources.enumerated() { mu[inf + red + r] = mu[src]; v[inf + red + r] = v[src] }
            for j in (inf + red + 2)..<f { mu[j] = 0; v[j] = 1 }
            for j in 0..<f { mean[j] += w * mu[j]; second[j] += w * (v[j] + mu[j] * mu[j]) }
        }
        var worstMean = 0.0, worstVar = 0.0
        for c in 0..<f {
            let scale = s.scales[c], shift = s.shifts[c]
            let popMean = (mean[c] + shift) * scale
            let popVar = (second[c] - mean[c] * mean[c]) * scale * scale
            var m = 0.0
            for i in 0..<n { m += rows.x[i * f + col[c]] }
            m /= Double(n)
            var m2 = 0.0, m4 = 0.0
            for i in 0..<n { let d = rows.x[i * f + col[c]] - m; m2 += d * d; m4 += d * d * d * d }
            m2 /= Double(n); m4 /= Double(n)
            let meanTol = 5 * (popVar / Double(n)).squareRoot()
            let varTol = 5 * ((m4 - m2 * m2) / Double(n)).squareRoot()
            worstMean = max(worstMean, abs(m - popMean) / meanTol)
            worstVar = max(worstVar, abs(m2 - popVar) / varTol)
            XCTAssertEqual(m, popMean, accuracy: meanTol, "mean of pre-shuffle column \(c)")
            XCTAssertEqual(m2, popVar, accuracy: varTol, "variance of pre-shuffle column \(c)")
        }
        print("column moments: worst |mean - population| = \(worstMean) x tolerance, worst variance \(worstVar) x tolerance (tolerance = 5 standard errors)")
    }

    /// Redundant columns are exact linear combinations of the informative ones: the numerical rank
    /// of [informative | redundant] (modified Gram-Schmidt, relative threshold 1e-9) is 4, and
    /// repeated columns equal their sources exactly before shift and scale (up to 1e-12 relative).
    func testInformativeRedundantRankAndRepeatedCopies() {
        let (s, rows) = Self.big
        let n = rows.count, inf = 4, red = 3
        let col = outputColumn(s)
        var columns = (0..<(inf + red)).map { c in (0..<n).map { unscaled(s, rows, $0, c, col) } }
        var diag: [Double] = []
        for c in 0..<columns.count {
            for p in 0..<c {
                let q = columns[p]
                let qq = q.indices.reduce(0.0) { $0 + q[$1] * q[$1] }
                if qq == 0 { continue }
                let proj = q.indices.reduce(0.0) { $0 + q[$1] * columns[c][$1] } / qq
                for i in 0..<n { columns[c][i] -= proj * q[i] }
            }
            diag.append(columns[c].reduce(0.0) { $0 + $1 * $1 }.squareRoot())
        }
        let top = diag.max()!
        let rank = diag.filter { $0 > 1e-9 * top }.count
        print("Gram-Schmidt norms of [informative | redundant]: \(diag.map { $0 / top })")
        XCTAssertEqual(rank, inf, "numerical rank of [informative | redundant]")
        var worst = 0.0
        for (r, src) in s.repeatedSources.enumerated() {
            for i in 0..<n {
                let a = unscaled(s, rows, i, inf + red + r, col), b = unscaled(s, rows, i, src, col)
                worst = max(worst, abs(a - b) / max(1, abs(b)))
            }
        }
        print("repeated columns: max relative difference to their sources \(worst)")
        XCTAssertLessThan(worst, 1e-12)
    }

    func testRowsAreShuffledAndPolytopeWorks() throws {
        let (s, _) = Self.big
        let firstClusters = Set((0..<100).map { s.cluster(ofGenerated: s.generatedRow($0)) })
        XCTAssertGreaterThan(firstClusters.count, 3, "the first 100 rows mix clusters")
        XCTAssertNotEqual(s.columnOrder, Array(0..<s.features), "columns are shuffled")
        let poly = try CounterDataSource(counterSpec { $0.classification.hypercube = false })
        XCTAssertTrue(poly.centres.allSatisfy { abs($0) < 1 && $0 != 0 }, "polytope centres shrink inside the cube")
        let plain = try CounterDataSource(counterSpec { $0.classification.shuffle = false })
        XCTAssertEqual(plain.columnOrder, Array(0..<20))
        XCTAssertEqual(plain.generatedRow(123), 123)
        XCTAssertEqual(Set(stride(from: 0, to: 4 * 10, by: 10).map { k in plain.centres[k..<(k + 10)].map { $0 } }).count, 4, "distinct vertices")
    }
}

final class CounterBatchOracleTests: XCTestCase {
    /// The batched path (array-wise Philox and Box-Muller) equals the one-block-at-a-time oracle
    /// bit for bit, for odd and even numbers of normals per row.
    func testBatchedRowsEqualTheScalarOracle() throws {
        for (features, informative) in [(20, 10), (7, 3), (5, 2)] {
            let source = try CounterDataSource(counterSpec {
                $0.classification.samples = 300; $0.classification.features = features
                $0.classification.informative = informative; $0.classification.redundant = 1
                $0.classification.flipY = 0.3
            })
            let rows = try source.rows(.train, ranges: [0..<source.trainCount])
            var mismatches = 0
            for t in 0..<source.trainCount {
                let ref = source.referenceRow(generated: source.generatedRow(source.datasetRow(.train, position: t)))
                if ref.y != rows.y[t] || ref.x != Array(rows.x[(t * features)..<((t + 1) * features)]) { mismatches += 1 }
            }
            XCTAssertEqual(mismatches, 0, "rows differing from the scalar oracle (\(features) features)")
        }
    }

    func testBatchedNormalsEqualScalarNormals() {
        let n = 1001
        let p = Philox4x32(key0: 3, key1: 4)
        var w: [[UInt32]] = Array(repeating: [UInt32](repeating: 0, count: n), count: 4)
        for b in 0..<n { let v = p.block(.init(UInt32(b), 0, 0, 0)); w[0][b] = v.x; w[1][b] = v.y; w[2][b] = v.z; w[3][b] = v.w }
        var c = [Double](repeating: 0, count: n), s = c, scratch = c
        RandomBits.normalPairs(count: n, w[0], w[1], w[2], w[3], cosOut: &c, sinOut: &s, logScratch: &scratch)
        var o0 = [UInt32](repeating: 0, count: n), o1 = o0, o2 = o0, o3 = o0
        let counters = (0..<n).map { UInt32($0) }, zeros = [UInt32](repeating: 0, count: n)
        RandomBits.philoxBlocks(p, count: n, c0: counters, c1: zeros, c2: zeros, c3: zeros,
                                out0: &o0, out1: &o1, out2: &o2, out3: &o3)
        XCTAssertEqual([o0, o1, o2, o3], w, "philoxBlocks equals Philox4x32.block")
        var differ = 0
        for b in 0..<n {
            let (a, d) = RandomBits.normalPair(.init(w[0][b], w[1][b], w[2][b], w[3][b]))
            if a != c[b] || d != s[b] { differ += 1 }
        }
        XCTAssertEqual(differ, 0, "normalPairs equals normalPair bit for bit")
    }
}
