// SlurmClusterTests: focal-ddp under a real Slurm (scripts/testcluster slurm-up: slurmctld, munged,
// one slurmd per simulated host) gives the one-process bytes: `srun --mpi=pmix` over 2 hosts, the
// sbatch template requeued mid-run (also onto another node count, also after its own USR1 stop),
// and `srun --mpi=none` is refused with no output.
//
// The cluster (2 hosts, 2 CPUs each) is brought up by the first test and stopped, by pid, in the
// class tearDown. Runs only as root where `ip netns` works and Slurm is installed (otherwise
// skipped with the reason printed; under CI=true it fails naming what is missing). Uses the
// focal-ddp built next to the test bundle; every path is under /tmp, which every host sees here.

import Foundation
import XCTest
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// The suite's one test Slurm: started by the first test that asks, stopped by `stop()`.
final class SlurmTestCluster: @unchecked Sendable {
    static let shared = SlurmTestCluster()
    static let hosts = 2

    private let lock = NSLock()
    private var cluster: TestCluster?
    private var startError: String?
    /// One-process model bytes by recipe (the references the Slurm runs are compared with).
    private var references: [[String]: Data] = [:]

    /// The path of slurm.conf of the running cluster, starting it when needed.
    func configuration() throws -> String {
        lock.lock()
        defer { lock.unlock() }
        if let startError { throw MPIRunError(description: "the test Slurm did not start: \(startError)") }
        if cluster == nil {
            do {
                let started = Date()
                let c = try TestCluster(hosts: Self.hosts, slots: 2)
                do { try TestCluster.tool(["slurm-up"], timeout: 90) } catch { c.down(); throw error }
                cluster = c
                print("test Slurm of \(Self.hosts) hosts up in \(String(format: "%.2f", Date().timeIntervalSince(started))) s")
            } catch {
                startError = "\(error)"
                throw error
            }
        }
        return try TestCluster.tool(["slurm-conf"]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Stops the daemons (by pid) and removes the hosts. Idempotent.
    func stop() {
        lock.lock()
        defer { lock.unlock() }
        cluster?.down()
        cluster = nil
    }

    /// The model one process saves with `recipe` (computed once per recipe).
    func reference(_ recipe: [String]) throws -> Data {
        lock.lock()
        defer { lock.unlock() }
        if let data = references[recipe] { return data }
        let dir = try FocalRun.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = dir.appendingPathComponent("one.safetensors").path
        let r = try FocalRun.run(recipe + ["--save-model", model, "--quiet"], timeout: 120)
        guard r.status == 0 else { throw MPIRunError(description: "one-process reference failed: \(r.stderr)") }
        let data = try Data(contentsOf: URL(fileURLWithPath: model))
        references[recipe] = data
        return data
    }
}

final class SlurmClusterTests: XCTestCase {
    /// Tutorial-sized, long enough (about 2 s on 2 ranks, 6 s on 4 under mpirun here) for a requeue
    /// that follows the first checkpoint (epoch 25) to land mid-run.
    static let longRecipe = ["--epochs", "800", "--hidden", "8", "--log-every", "100"]
    static let checkpoints = ["--checkpoint-dir", "ck", "--checkpoint-every", "25"]
    static let template = TestCluster.repository.appendingPathComponent("slurm/focal-ddp.sbatch")

    override class func tearDown() {
        SlurmTestCluster.shared.stop()
        super.tearDown()
    }

    // MARK: - Helpers

    private func requireSlurm(test: String = #function, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        var reason = TestCluster.unavailableReason()
        if reason == nil {
            do {
                let r = try MPIRun.run(TestCluster.script, ranks: nil, arguments: ["slurm-check"], timeout: 30)
                if r.status != 0 { reason = (r.stdout + r.stderr).trimmingCharacters(in: .whitespacesAndNewlines) }
            } catch { reason = "scripts/testcluster slurm-check could not run: \(error)" }
        }
        try Prerequisite.require(reason, test: "SlurmClusterTests.\(test)", file: file, line: line)
        return try SlurmTestCluster.shared.configuration()
    }

    /// Runs a Slurm client command (`srun`, `sbatch`, `scontrol`, ...) in `directory` against the test cluster.
    private func slurm(_ command: String, _ arguments: [String], conf: String, in directory: URL? = nil,
                       environment: [String: String] = [:], timeout: Double = 60) throws -> MPIRunResult {
        guard let path = TestCluster.findInPath(command) else { throw MPIRunError(description: "\(command) not found on PATH") }
        var env = environment
        env["SLURM_CONF"] = conf
        // Through sh, to run it from `directory` (sbatch's submit directory is its working directory).
        let cwd = directory?.path ?? FileManager.default.currentDirectoryPath
        return try MPIRun.run(URL(fileURLWithPath: "/bin/sh"), ranks: nil,
                              arguments: ["-c", "cd \"$0\" && exec \"$@\"", cwd, path] + arguments,
                              timeout: timeout, extraEnvironment: env)
    }

    /// `scontrol show job J` as fields (JobState, Restarts, NumNodes, ExitCode, ...).
    private func job(_ id: String, conf: String) throws -> [String: String] {
        let r = try slurm("scontrol", ["-o", "show", "job", id], conf: conf)
        guard r.status == 0 else { throw MPIRunError(description: "scontrol show job \(id): \(r.stderr)") }
        var fields: [String: String] = [:]
        for word in r.stdout.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            let kv = word.split(separator: "=", maxSplits: 1)
            if kv.count == 2 { fields[String(kv[0])] = String(kv[1]) }
        }
        return fields
    }

    /// Waits until `condition` holds for job `id`'s fields; returns them (fails the test on timeout).
    private func waitForJob(_ id: String, conf: String, timeout: Double, what: String,
                            file: StaticString = #filePath, line: UInt = #line,
                            _ condition: ([String: String]) -> Bool) throws -> [String: String] {
        let deadline = Date().addingTimeInterval(timeout)
        var fields = try job(id, conf: conf)
        while !condition(fields) {
            if Date() >= deadline {
                XCTFail("job \(id): not \(what) after \(Int(timeout)) s: \(fields["JobState"] ?? "?")", file: file, line: line)
                return fields
            }
            usleep(100_000)
            fields = try job(id, conf: conf)
        }
        return fields
    }

    /// Waits until `directory` holds a checkpoint file.
    private func waitForCheckpoint(_ directory: URL, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
            if names.contains(where: { $0.hasPrefix("ckpt-") }) { return true }
            usleep(50_000)
        }
        return false
    }

    /// Submits the template from `dir` (the job itself starts in `/`: the template must enter the
    /// submit directory for the relative paths) and returns the job id.
    private func submit(_ sbatchOptions: [String], _ options: [String], in dir: URL, conf: String,
                        environment: [String: String] = [:]) throws -> String {
        var env = environment
        env["FOCAL_DDP"] = try FocalRun.binary.path
        let r = try slurm("sbatch", ["--parsable", "--chdir", "/", "--output", dir.appendingPathComponent("slurm-%j.out").path]
                          + sbatchOptions + [Self.template.path] + options, conf: conf, in: dir, environment: env)
        XCTAssertEqual(r.status, 0, "\(r.command)\n\(r.stderr)")
        let id = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ";").first.map(String.init) ?? ""
        guard !id.isEmpty, Int(id) != nil else { throw MPIRunError(description: "sbatch printed no job id: \(r.stdout)\(r.stderr)") }
        return id
    }

    /// Waits until every node is idle and no step daemon of job `id` is left (process title
    /// `slurmstepd: [ID.STEP]`): a step daemon lingers a few seconds after its tasks ended, and a
    /// job released earlier reuses its step ids next to it, whose PMIx set-up then fails (Slurm's
    /// own two-minute hold of a requeued job hides this race).
    private func waitForQuietNodes(job id: String, conf: String, timeout: Double = 30,
                                   file: StaticString = #filePath, line: UInt = #line) throws {
        let deadline = Date().addingTimeInterval(timeout)
        var states: [String] = [], steps: [String] = []
        while Date() < deadline {
            let r = try slurm("sinfo", ["-h", "-N", "-o", "%t"], conf: conf)
            states = r.stdout.split(separator: "\n").map(String.init)
            steps = Self.stepDaemons(job: id)
            if r.status == 0, states.count == SlurmTestCluster.hosts, states.allSatisfy({ $0 == "idle" }), steps.isEmpty { return }
            usleep(100_000)
        }
        XCTFail("nodes not quiet after \(Int(timeout)) s: states \(states), step daemons \(steps)", file: file, line: line)
    }

    /// The process titles of job `id`'s live step daemons (from /proc/PID/cmdline).
    private static func stepDaemons(job id: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return names.filter { Int($0) != nil }.compactMap { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
            let title = String(decoding: data, as: UTF8.self)
            return title.hasPrefix("slurmstepd: [\(id).") ? title : nil
        }
    }

    /// The epoch a restarted run resumed at ("resumed at epoch E, ..."), or nil.
    private func resumedEpoch(_ log: String) -> Int? {
        guard let range = log.range(of: "resumed at epoch ") else { return nil }
        return Int(log[range.upperBound...].prefix(while: { $0.isNumber }))
    }

    private func output(_ id: String, in dir: URL) -> String {
        (try? String(contentsOf: dir.appendingPathComponent("slurm-\(id).out"), encoding: .utf8)) ?? ""
    }

    // MARK: - srun --mpi=pmix over 2 hosts

    func testSrunPmixFourRanksOnTwoHostsGivesOneProcessBytes() throws {
        let conf = try requireSlurm()
        let dir = try FocalRun.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        // Two tasks on each simulated host, each seeing its own hostname.
        let placement = try slurm("srun", ["-N", "2", "-n", "4", "hostname"], conf: conf)
        XCTAssertEqual(placement.status, 0, placement.stderr)
        XCTAssertEqual(placement.stdout.split(separator: "\n").map(String.init).sorted(),
                       ["fnode1", "fnode1", "fnode2", "fnode2"])
        let recipe = ["--epochs", "30"]
        let started = Date()
        let r = try slurm("srun", ["--mpi=pmix", "-N", "2", "-n", "4", try FocalRun.binary.path] + recipe
                          + ["--save-model", "four.safetensors"], conf: conf, in: dir, timeout: 120)
        print("srun --mpi=pmix -N 2 -n 4: \(String(format: "%.2f", Date().timeIntervalSince(started))) s")
        XCTAssertEqual(r.status, 0, "\(r.command)\n\(r.stderr)")
        XCTAssertTrue(r.stdout.contains("4 ranks"), r.stdout)
        let model = try Data(contentsOf: dir.appendingPathComponent("four.safetensors"))
        XCTAssertEqual(model, try SlurmTestCluster.shared.reference(recipe),
                       "srun --mpi=pmix -n 4 over 2 hosts differs from one process")
    }

    // MARK: - srun --mpi=none is refused

    func testSrunWithoutMPIIsRefusedWithNoOutput() throws {
        let conf = try requireSlurm()
        let dir = try FocalRun.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try slurm("srun", ["--mpi=none", "-N", "2", "-n", "2", try FocalRun.binary.path, "--epochs", "5",
                                   "--save-model", "m.safetensors", "--checkpoint-dir", "ck"], conf: conf, in: dir)
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssertEqual(r.stdout, "")
        // One line from focal-ddp (SLURM_PROCID 0 only); the other lines are srun's own.
        let ours = r.stderr.split(separator: "\n").filter { $0.hasPrefix("focal-ddp") }
        XCTAssertEqual(ours.count, 1, r.stderr)
        XCTAssertTrue(ours.first?.contains("srun --mpi=pmix") == true, r.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [], "no output file")
    }

    // MARK: - sbatch + requeue

    /// Submits the template with a checkpoint directory, requeues the job once its first checkpoint
    /// exists (with `numnodes` changed while it is pending, when given), releases it and checks the
    /// finished job's bytes against one process.
    private func requeueRun(nodes: Int, tasks: Int, nodesAfter: Int?, environment: [String: String] = [:],
                            file: StaticString = #filePath, line: UInt = #line) throws {
        let conf = try requireSlurm()
        let dir = try FocalRun.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let options = Self.longRecipe + Self.checkpoints + ["--save-model", "r.safetensors"]
        let id = try submit(["-N", "\(nodes)", "-n", "\(tasks)"], options, in: dir, conf: conf, environment: environment)
        defer { _ = try? slurm("scancel", [id], conf: conf) }
        XCTAssertTrue(waitForCheckpoint(dir.appendingPathComponent("ck"), timeout: 60),
                      "no checkpoint from job \(id): \(output(id, in: dir))", file: file, line: line)
        let requeue = try slurm("scontrol", ["requeue", id], conf: conf)
        XCTAssertEqual(requeue.status, 0, "scontrol requeue \(id) (did the job end first?): \(requeue.stderr)", file: file, line: line)
        let pending = try waitForJob(id, conf: conf, timeout: 30, what: "requeued") {
            $0["JobState"] == "PENDING" && $0["Restarts"] == "1"
        }
        XCTAssertEqual(pending["JobState"], "PENDING", file: file, line: line)
        if let nodesAfter {
            let update = try slurm("scontrol", ["update", "jobid=\(id)", "numnodes=\(nodesAfter)"], conf: conf)
            XCTAssertEqual(update.status, 0, update.stderr, file: file, line: line)
        }
        // Slurm holds a requeued job for about two minutes: release it now.
        try waitForQuietNodes(job: id, conf: conf, file: file, line: line)
        let release = try slurm("scontrol", ["update", "jobid=\(id)", "starttime=now"], conf: conf)
        XCTAssertEqual(release.status, 0, release.stderr, file: file, line: line)
        let done = try waitForJob(id, conf: conf, timeout: 120, what: "finished") {
            ["COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL"].contains($0["JobState"] ?? "")
        }
        let log = output(id, in: dir)
        XCTAssertEqual(done["JobState"], "COMPLETED", log, file: file, line: line)
        XCTAssertEqual(done["NumNodes"], "\(nodesAfter ?? nodes)", file: file, line: line)
        // The first run stopped mid-run with a checkpoint (SIGTERM from the requeue; under mpirun its
        // message may be lost with mpirun itself), the second resumed from it.
        XCTAssertTrue(log.contains("restarted (1 time(s)) on \(nodesAfter ?? nodes) node(s)"), log, file: file, line: line)
        let epoch = resumedEpoch(log)
        XCTAssertNotNil(epoch, log, file: file, line: line)
        XCTAssertTrue((1..<800).contains(epoch ?? 0), "resumed at epoch \(epoch ?? -1): not mid-run", file: file, line: line)
        let model = try Data(contentsOf: dir.appendingPathComponent("r.safetensors"))
        XCTAssertEqual(model, try SlurmTestCluster.shared.reference(Self.longRecipe),
                       "the requeued job's model differs from the uninterrupted one-process run", file: file, line: line)
        print("job \(id): \(nodes) node(s) -> requeued -> \(nodesAfter ?? nodes) node(s): uninterrupted bytes")
    }

    /// mpirun inside the allocation (FOCAL_LAUNCHER=mpirun), 4 ranks on 2 hosts, requeued mid-run.
    func testSbatchRequeueMidRunGivesUninterruptedBytes() throws {
        try requeueRun(nodes: 2, tasks: 4, nodesAfter: nil, environment: ["FOCAL_LAUNCHER": "mpirun"])
    }

    /// srun --mpi=pmix (the template's choice here), 2 ranks on 2 hosts, requeued onto 1 host.
    func testRequeueOntoAnotherNodeCountGivesUninterruptedBytes() throws {
        try requeueRun(nodes: 2, tasks: 2, nodesAfter: 1)
    }

    // MARK: - USR1 before the time limit: checkpoint, exit 6, the template requeues its own job

    func testUSR1StopsWithACheckpointAndTheTemplateRequeues() throws {
        let conf = try requireSlurm()
        let dir = try FocalRun.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let options = Self.longRecipe + Self.checkpoints + ["--save-model", "u.safetensors"]
        let id = try submit(["-N", "2", "-n", "2"], options, in: dir, conf: conf)
        defer { _ = try? slurm("scancel", [id], conf: conf) }
        XCTAssertTrue(waitForCheckpoint(dir.appendingPathComponent("ck"), timeout: 60), output(id, in: dir))
        // What `#SBATCH --signal=B:USR1@120` does ahead of the time limit: USR1 to the batch shell only.
        let signal = try slurm("scancel", ["--signal=USR1", "--batch", id], conf: conf)
        XCTAssertEqual(signal.status, 0, signal.stderr)
        let pending = try waitForJob(id, conf: conf, timeout: 30, what: "requeued by the template") {
            $0["JobState"] == "PENDING" && $0["Restarts"] == "1"
        }
        XCTAssertEqual(pending["JobState"], "PENDING")
        let first = output(id, in: dir)
        XCTAssertTrue(first.contains("SIGUSR1 received"), first)
        XCTAssertTrue(first.contains("exit code 6"), first)
        XCTAssertTrue(first.contains("requeueing job \(id)"), first)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("u.safetensors").path),
                       "no model before the run is complete")
        try waitForQuietNodes(job: id, conf: conf)
        let release = try slurm("scontrol", ["update", "jobid=\(id)", "starttime=now"], conf: conf)
        XCTAssertEqual(release.status, 0, release.stderr)
        let done = try waitForJob(id, conf: conf, timeout: 120, what: "finished") {
            ["COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL"].contains($0["JobState"] ?? "")
        }
        let log = output(id, in: dir)
        XCTAssertEqual(done["JobState"], "COMPLETED", log)
        XCTAssertTrue((1..<800).contains(resumedEpoch(log) ?? 0), log)
        XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("u.safetensors")),
                       try SlurmTestCluster.shared.reference(Self.longRecipe),
                       "the job stopped by USR1 and requeued differs from the uninterrupted run")
    }

    // MARK: - The template without a focal-ddp

    func testTemplateWithoutFocalDDPSaysSoInOneLine() throws {
        let dir = try FocalRun.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try MPIRun.run(URL(fileURLWithPath: "/usr/bin/env"), ranks: nil,
                               arguments: ["-u", "FOCAL_DDP", "PATH=/usr/bin:/bin", "SLURM_SUBMIT_DIR=\(dir.path)",
                                           "bash", Self.template.path, "--epochs", "1"], timeout: 30)
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("focal-ddp is not on PATH and FOCAL_DDP is not set"), r.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [])
    }
}
