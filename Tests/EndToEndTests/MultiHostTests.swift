// MultiHostTests: training across 3 simulated hosts (scripts/testcluster) equals a one-host run; a cut link ends the job.
//
// Runs only as root where `ip netns` works (otherwise skipped with the reason printed; under
// CI=true it fails naming what is missing, see TestSupport's `Prerequisite`). Each test
// brings the cluster up and always tears it down (defer), then checks nothing is left behind.
// Uses the focal-ddp built next to the test bundle (`swift build --product focal-ddp` first).

import Foundation
import XCTest
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

final class MultiHostTests: XCTestCase {
    // MARK: - Configuration

    static let hosts = 3
    static let slotsPerHost = 2
    /// A small recipe: 400 samples (320 train rows over 6 ranks), chunks of 32 rows, 5 epochs, each one recorded.
    static let recipe = ["--epochs", "5", "--samples", "400", "--chunk-size", "32", "--log-every", "1"]
    /// Epoch-record fields that measure time, not results: excluded from the comparison.
    static let timingFields: Set<String> = ["elapsed_s", "samples_per_s"]

    private func requireCluster(test: String = #function, file: StaticString = #filePath, line: UInt = #line) throws {
        try Prerequisite.require(TestCluster.unavailableReason(), test: "MultiHostTests.\(test)", file: file, line: line)
    }

    // MARK: - Same result on 3 hosts x 2 ranks as on one rank

    func testThreeHostsTwoRanksEachMatchOneHost() throws {
        try requireCluster()
        let binary = try MPIRun.product("focal-ddp")
        let t0 = Date()
        let cluster = try TestCluster(hosts: Self.hosts, slots: Self.slotsPerHost)
        defer { cluster.down() }
        print("cluster of \(Self.hosts) hosts up in \(String(format: "%.2f", Date().timeIntervalSince(t0))) s")
        let ranks = Self.hosts * Self.slotsPerHost

        // The ranks really land on the simulated hosts, two on each, each seeing its own hostname.
        guard let hostnameTool = TestCluster.findInPath("hostname") else {
            try Prerequisite.missing("no 'hostname' command on PATH (Debian package hostname)")
        }
        let placement = try cluster.mpirun(URL(fileURLWithPath: hostnameTool), ranks: ranks, arguments: [], timeout: 60)
        XCTAssertEqual(placement.status, 0, "\(placement.command)\n\(placement.stderr)")
        let names = placement.stdout.split(separator: "\n").map(String.init).sorted()
        let expected = (1...Self.hosts).flatMap { i in Array(repeating: "fnode\(i)", count: Self.slotsPerHost) }.sorted()
        XCTAssertEqual(names, expected, "rank placement across the simulated hosts")

        let dir = cluster.directory
        let multiModel = dir.appendingPathComponent("hosts3.safetensors").path
        let multiMetrics = dir.appendingPathComponent("hosts3.jsonl").path
        let t1 = Date()
        let multi = try cluster.mpirun(binary, ranks: ranks, arguments: Self.recipe
                                       + ["--save-model", multiModel, "--metrics-out", multiMetrics], timeout: 180)
        let multiSeconds = Date().timeIntervalSince(t1)
        XCTAssertFalse(multi.timedOut, "timed out: \(multi.command)")
        XCTAssertEqual(multi.status, 0, "\(multi.command)\nstdout:\n\(multi.stdout)\nstderr:\n\(multi.stderr)")

        let singleModel = dir.appendingPathComponent("single.safetensors").path
        let singleMetrics = dir.appendingPathComponent("single.jsonl").path
        let t2 = Date()
        let single = try MPIRun.run(binary, ranks: 1, arguments: Self.recipe
                                    + ["--save-model", singleModel, "--metrics-out", singleMetrics], timeout: 120)
        let singleSeconds = Date().timeIntervalSince(t2)
        XCTAssertEqual(single.status, 0, "\(single.command)\nstdout:\n\(single.stdout)\nstderr:\n\(single.stderr)")
        print("mpirun -n \(ranks) across \(Self.hosts) hosts: \(String(format: "%.2f", multiSeconds)) s; "
              + "mpirun -n 1: \(String(format: "%.2f", singleSeconds)) s")
        guard multi.status == 0, single.status == 0 else { return }

        // The model files: byte for byte (tolerance 0).
        let a = try Data(contentsOf: URL(fileURLWithPath: multiModel))
        let b = try Data(contentsOf: URL(fileURLWithPath: singleModel))
        let differing = zip(a, b).filter { $0 != $1 }.count + abs(a.count - b.count)
        print("model files: \(a.count) and \(b.count) bytes, \(differing) differing bytes (tolerance 0)")
        XCTAssertEqual(a, b, "the model saved by \(ranks) ranks on \(Self.hosts) hosts differs from the one-rank model")

        // The metrics: epoch records (timing fields aside) and eval records equal; the config records name the ranks.
        let multiRecords = try Self.records(multiMetrics)
        let singleRecords = try Self.records(singleMetrics)
        XCTAssertEqual(Self.ranks(in: multiRecords), ranks)
        XCTAssertEqual(Self.ranks(in: singleRecords), 1)
        let multiResults = try Self.results(multiRecords)
        let singleResults = try Self.results(singleRecords)
        XCTAssertFalse(singleResults.isEmpty, "no epoch or eval records in \(singleMetrics)")
        XCTAssertEqual(multiResults.count, singleResults.count, "number of epoch/eval records")
        var mismatches = 0
        for (i, (m, s)) in zip(multiResults, singleResults).enumerated() where m != s {
            mismatches += 1
            XCTFail("record \(i) differs:\n  \(ranks) ranks: \(m)\n  1 rank:  \(s)")
        }
        print("metrics: \(singleResults.count) epoch/eval records compared, \(mismatches) differ (exact)")

        cluster.down()
        try assertNothingLeft()
    }

    // MARK: - A cut link ends the job

    func testCutLinkEndsJobWithinTenSeconds() throws {
        try requireCluster()
        let binary = try MPIRun.product("focal-ddp")
        let cluster = try TestCluster(hosts: Self.hosts, slots: Self.slotsPerHost)
        defer { cluster.down() }
        let ranks = Self.hosts * Self.slotsPerHost

        // Cut host 2's link once its ranks are inside MPI (their shared-memory segments exist), plus 2 s.
        let cut = CutRecord()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            defer { done.signal() }
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline && !cut.jobEnded
                    && !TestCluster.leftovers(prefix: "fnode2").contains(where: { $0.hasPrefix("/dev/shm/") }) {
                usleep(100_000)
            }
            usleep(2_000_000)
            if cut.jobEnded { cut.setError("the job ended before the link was cut"); return }
            do {
                try TestCluster.tool(["cut", "2"])
                cut.set(Date())
            } catch {
                cut.setError("\(error)")
            }
        }
        // Long enough never to finish on its own within the deadline.
        let start = Date()
        let run = try cluster.mpirun(binary, ranks: ranks, arguments: ["--epochs", "10000000", "--samples", "400",
                                                                       "--chunk-size", "32", "--log-every", "1000000"],
                                     timeout: 120)
        let end = Date()
        cut.endJob()
        done.wait()
        if let error = cut.error { XCTFail("cutting the link failed: \(error)"); return }
        guard let cutAt = cut.time else { XCTFail("the link was never cut"); return }
        let afterCut = end.timeIntervalSince(cutAt)
        print("link of fnode2 cut \(String(format: "%.2f", cutAt.timeIntervalSince(start))) s after start; "
              + "job ended \(String(format: "%.2f", afterCut)) s after the cut with status \(run.status)")
        XCTAssertFalse(run.timedOut, "the job did not end after the cut: \(run.command)")
        XCTAssertLessThan(cutAt, end, "the job ended before the cut: status \(run.status)\n\(run.stdout)\n\(run.stderr)")
        XCTAssertNotEqual(run.status, 0, "the job succeeded although a host was cut off")
        XCTAssertLessThanOrEqual(afterCut, 10, "the job took \(afterCut) s (bound 10 s) to end after the cut")

        cluster.down()
        try assertNothingLeft()
    }

    // MARK: - Helpers

    /// After `down`: no namespace, link or OpenMPI file of the simulated hosts remains.
    private func assertNothingLeft(file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(TestCluster.leftovers(), [], "files left behind", file: file, line: line)
        guard let ip = TestCluster.findInPath("ip") else {
            return XCTFail("'ip' (iproute2) not found: cannot list leftover namespaces and links", file: file, line: line)
        }
        let netns = try MPIRun.run(URL(fileURLWithPath: ip), ranks: nil, arguments: ["netns", "list"], timeout: 10)
        XCTAssertFalse(netns.stdout.contains("fnode"), "namespaces left: \(netns.stdout)", file: file, line: line)
        let links = try MPIRun.run(URL(fileURLWithPath: ip), ranks: nil, arguments: ["-o", "link", "show"], timeout: 10)
        XCTAssertFalse(links.stdout.contains("fnode"), "links left: \(links.stdout)", file: file, line: line)
    }

    /// The JSON objects of a metrics file, one per line.
    static func records(_ path: String) throws -> [[String: Any]] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                throw MPIRunError(description: "\(path): a line is not a JSON object: \(line)")
            }
            return object
        }
    }

    /// Epoch and eval records without their timing fields, in file order, as JSON text with sorted keys.
    static func results(_ records: [[String: Any]]) throws -> [String] {
        try records.filter { ["epoch", "eval"].contains($0["type"] as? String ?? "") }.map { record in
            let kept = record.filter { !timingFields.contains($0.key) }
            let data = try JSONSerialization.data(withJSONObject: kept, options: [.sortedKeys])
            return String(decoding: data, as: UTF8.self)
        }
    }

    /// The "ranks" field of the config record.
    static func ranks(in records: [[String: Any]]) -> Int? {
        records.first { $0["type"] as? String == "config" }?["ranks"] as? Int
    }
}

/// When (or why not) the cut-link thread cut the link; written by that thread, read after it signalled.
private final class CutRecord: @unchecked Sendable {
    private let lock = NSLock()
    private var _time: Date?
    private var _error: String?
    private var _jobEnded = false
    var jobEnded: Bool { lock.withLock { _jobEnded } }
    func endJob() { lock.withLock { _jobEnded = true } }
    var time: Date? { lock.withLock { _time } }
    var error: String? { lock.withLock { _error } }
    func set(_ t: Date) { lock.withLock { _time = t } }
    func setError(_ e: String) { lock.withLock { _error = e } }
}
