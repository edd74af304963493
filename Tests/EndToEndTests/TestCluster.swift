// TestCluster: brings scripts/testcluster's simulated hosts up and down for a test, and runs mpirun across them.
//
// The hosts are network namespaces on one machine (see docs/MULTI-HOST.md): the binary path is the
// same on every "host", and mpirun runs in the root namespace, which holds the bridge address.
// Only one cluster can exist at a time (fixed names and subnet), so `up` takes an exclusive
// `flock` that the kernel releases when the holder dies; concurrent test runs wait for each other.

import Foundation
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// A running simulated cluster; call `down()` (in a `defer`) when done.
final class TestCluster {
    // MARK: - Locating the tool

    /// The repository root: three levels above this source file (Tests/EndToEndTests/TestCluster.swift).
    static var repository: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
    }

    static var script: URL { repository.appendingPathComponent("scripts/testcluster") }

    /// The tool's defaults, pinned for every child (the tests expect hosts fnode1..N on 10.77.0.0/24).
    static let environment = ["FOCAL_CLUSTER_PREFIX": "fnode", "FOCAL_CLUSTER_SUBNET": "10.77.0"]

    /// Why this machine cannot run the cluster, or nil when it can (root, `ip netns`, `unshare --uts`, mpirun).
    static func unavailableReason() -> String? {
        guard getuid() == 0 else { return "not root: network namespaces need root" }
        guard FileManager.default.isExecutableFile(atPath: script.path) else {
            return "\(script.path) is missing or not executable"
        }
        guard findInPath("mpirun") != nil else { return "mpirun not found on PATH (install openmpi-bin)" }
        do {
            let r = try MPIRun.run(script, ranks: nil, arguments: ["check"], timeout: 30, extraEnvironment: environment)
            if r.status != 0 {
                let reason = (r.stdout + r.stderr).trimmingCharacters(in: .whitespacesAndNewlines)
                return reason.isEmpty ? "scripts/testcluster check failed (status \(r.status))" : reason
            }
        } catch {
            return "scripts/testcluster check could not run: \(error)"
        }
        return nil
    }

    static func findInPath(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    // MARK: - Lifetime

    let hosts: Int
    /// Scratch directory of this cluster's test (hostfile, outputs); removed by `down()`.
    let directory: URL
    /// The hostfile: one line `fnodeI slots=S` per host.
    let hostfile: URL
    /// mpirun options that start the daemons inside the namespaces and keep MPI on the subnet.
    private(set) var mpiArguments: [String]
    private var lockFD: Int32
    private var isUp = true

    /// Takes the cluster lock (waiting up to `lockTimeout` s), runs `scripts/testcluster up hosts`
    /// and writes a hostfile with `slots` slots per host. On any failure the cluster is torn down.
    init(hosts: Int, slots: Int, lockTimeout: Double = 300) throws {
        self.hosts = hosts
        let lockPath = "/tmp/focal-testcluster.lock"
        lockFD = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lockFD >= 0 else { throw MPIRunError(description: "\(lockPath): cannot open (errno \(errno))") }
        let deadline = Date().addingTimeInterval(lockTimeout)
        while flock(lockFD, LOCK_EX | LOCK_NB) != 0 {
            if Date() >= deadline {
                close(lockFD)
                throw MPIRunError(description: "\(lockPath): another test cluster held the lock for \(Int(lockTimeout)) s")
            }
            usleep(100_000)
        }
        Self.removeStaleDirectories()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("testcluster-\(getpid())-\(UUID().uuidString)")
        hostfile = directory.appendingPathComponent("hosts")
        mpiArguments = []
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try Self.tool(["up", "\(hosts)"])
            try Self.tool(["hostfile", "\(slots)", hostfile.path])
            let args = try Self.tool(["mpi-args"])
            mpiArguments = args.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
        } catch {
            down()
            throw error
        }
    }

    deinit { down() }

    /// Removes every namespace, link, bridge and leftover file of the cluster, and releases the lock. Idempotent.
    func down() {
        guard isUp else { return }
        isUp = false
        do { try Self.tool(["down"]) } catch { print("TestCluster: down failed: \(error)") }
        try? FileManager.default.removeItem(at: directory)
        flock(lockFD, LOCK_UN)
        close(lockFD)
    }

    /// Removes `testcluster-<pid>-*` scratch directories of test processes that died (crashed) before `down`.
    private static func removeStaleDirectories() {
        let tmp = FileManager.default.temporaryDirectory
        for name in (try? FileManager.default.contentsOfDirectory(atPath: tmp.path)) ?? [] where name.hasPrefix("testcluster-") {
            let fields = name.split(separator: "-")
            guard fields.count >= 2, let pid = pid_t(fields[1]), pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { try? FileManager.default.removeItem(at: tmp.appendingPathComponent(name)) }
        }
    }

    /// Runs `scripts/testcluster args...`; throws with its output when it fails. Returns its stdout.
    @discardableResult
    static func tool(_ args: [String], timeout: Double = 60) throws -> String {
        let r = try MPIRun.run(script, ranks: nil, arguments: args, timeout: timeout, extraEnvironment: environment)
        guard r.status == 0, !r.timedOut else {
            throw MPIRunError(description: "scripts/testcluster \(args.joined(separator: " ")) failed "
                + "(status \(r.status)\(r.timedOut ? ", timed out" : "")): \(r.stderr)\(r.stdout)")
        }
        return r.stdout
    }

    // MARK: - Running across the hosts

    /// `mpirun -n ranks --hostfile H <agent and subnet options> <keepalive options> executable arguments`,
    /// as `./launch -n N --hostfile H -- $(scripts/testcluster mpi-args)` runs it (launch adds the
    /// same keepalive options for a hostfile of several hosts).
    func mpirun(_ executable: URL, ranks: Int, arguments: [String], timeout: Double) throws -> MPIRunResult {
        guard let mpirun = Self.findInPath("mpirun") else { throw MPIRunError(description: "mpirun not found on PATH") }
        var argv = ["-q", "-n", "\(ranks)", "--hostfile", hostfile.path, "-x", "OPENBLAS_NUM_THREADS",
                    "--mca", "oob_tcp_keepalive_time", "2", "--mca", "oob_tcp_keepalive_intvl", "1",
                    "--mca", "oob_tcp_keepalive_probes", "3"]
        if getuid() == 0 { argv.insert("--allow-run-as-root", at: 0) }
        argv += mpiArguments + [executable.path] + arguments
        return try MPIRun.run(URL(fileURLWithPath: mpirun), ranks: nil, arguments: argv, timeout: timeout,
                              extraEnvironment: Self.environment)
    }

    /// Entries under /dev/shm and /tmp that OpenMPI made for the simulated hosts (should be none after `down`).
    static func leftovers(prefix: String = "fnode") -> [String] {
        var found: [String] = []
        for (dir, stem) in [("/dev/shm", "vader_segment.\(prefix)"), ("/tmp", "ompi.\(prefix)")] {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
            found += names.filter { $0.hasPrefix(stem) }.map { "\(dir)/\($0)" }
        }
        return found
    }
}
