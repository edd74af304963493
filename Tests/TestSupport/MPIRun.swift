// MPIRun: starts `mpirun -n N <built executable>` from a test, safely, and returns its status and output.
//
// Shared by the test targets that spawn MPI jobs (module TestSupport); `ranks: nil` runs the
// executable directly. Traps it handles (each one hung or
// silently failed a test on this kind of machine):
// - Output goes to temporary FILES, never pipes: an `orted` started by the test process's own
//   `MPI_Init` inherits a pipe's write end, and reading the pipe then never sees end-of-file.
// - Every `OMPI_*`, `PMIX_*`, `OPAL_*` variable is removed from the child's environment (the test
//   process's singleton `MPI_Init` sets them; a child `mpirun` that inherits them exits 1 silently).
// - `--allow-run-as-root` when running as root, `--oversubscribe` (more ranks than cores),
//   `--mca pml ob1` (fast start-up), `OPENBLAS_NUM_THREADS=1`.
// - The child runs in its own process group under a deadline, polled with `waitpid(WNOHANG)`
//   (not Foundation's `waitUntilExit`, which hung when notification sockets were inherited); on
//   timeout the whole group gets SIGTERM, then SIGKILL, and the result says it timed out.
// - Descriptors other than 0, 1, 2 are closed in the child, so it cannot hold the test's MPI
//   sockets open.

import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The outcome of one `mpirun` child.
public struct MPIRunResult: Sendable {
    /// The exit status, or 128 + signal number if the child was killed by a signal.
    public var status: Int32
    public var stdout: String
    public var stderr: String
    public var timedOut: Bool
    /// The command line, for failure messages.
    public var command: String
}

/// Failures of the spawning itself (not of the child).
public struct MPIRunError: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}

public enum MPIRun {
    // MARK: - Locating built products

    /// The build products directory: the directory holding the running test bundle
    /// (`<products>/<package>PackageTests.xctest` on Linux).
    public static var productsDirectory: URL {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        // On platforms where the bundle is a directory (…/X.xctest/Contents/MacOS/X), climb out of it.
        while dir.pathComponents.contains(where: { $0.hasSuffix(".xctest") }) {
            dir = dir.deletingLastPathComponent()
        }
        return dir
    }

    /// The built executable `name` next to the test bundle; throws a clear error if it is missing.
    public static func product(_ name: String) throws -> URL {
        let url = productsDirectory.appendingPathComponent(name)
        guard FileManager.default.isExecutableFile(atPath: url.path) else {
            throw MPIRunError(description: "built executable '\(name)' not found in \(productsDirectory.path); "
                + "build it first (swift build --product \(name), with the same scratch path as the tests)")
        }
        return url
    }

    // MARK: - Running

    /// A started child (mpirun, or the executable itself) whose output goes to temporary files.
    public final class Job {
        public let pid: pid_t
        public let command: String
        let directory: URL
        /// The child's standard output file (readable while it runs).
        public var outPath: String { directory.appendingPathComponent("stdout").path }
        var errPath: String { directory.appendingPathComponent("stderr").path }

        init(pid: pid_t, command: String, directory: URL) {
            self.pid = pid
            self.command = command
            self.directory = directory
        }

        deinit { try? FileManager.default.removeItem(at: directory) }

        /// Sends `sig` to the child itself (mpirun forwards SIGTERM and SIGINT to its ranks).
        public func signal(_ sig: Int32) { kill(pid, sig) }

        /// Waits for the exit against a deadline; on timeout the whole process group is killed.
        public func wait(timeout: Double) throws -> MPIRunResult {
            let deadline = Date().addingTimeInterval(timeout)
            var rawStatus: Int32 = 0
            var timedOut = false
            while true {
                let r = waitpid(pid, &rawStatus, WNOHANG)
                if r == pid { break }
                if r < 0 && errno != EINTR { throw MPIRunError(description: "waitpid failed: errno \(errno)") }
                if Date() >= deadline {
                    timedOut = true
                    kill(-pid, SIGTERM)
                    let grace = Date().addingTimeInterval(3)
                    while waitpid(pid, &rawStatus, WNOHANG) != pid {
                        if Date() >= grace {
                            kill(-pid, SIGKILL)
                            _ = waitpid(pid, &rawStatus, 0)
                            break
                        }
                        usleep(20_000)
                    }
                    break
                }
                usleep(10_000)
            }
            // WIFEXITED / WEXITSTATUS / WTERMSIG are macros Swift does not import.
            let signal = rawStatus & 0x7f
            let status = signal == 0 ? (rawStatus >> 8) & 0xff : 128 + signal
            func read(_ path: String) -> String {
                (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            }
            return MPIRunResult(status: status, stdout: read(outPath), stderr: read(errPath), timedOut: timedOut,
                                command: command)
        }
    }

    /// Runs `mpirun -n ranks [flags] executable arguments` (or the executable alone when `ranks`
    /// is nil) with a deadline of `timeout` seconds.
    public static func run(_ executable: URL, ranks: Int?, arguments: [String] = [], timeout: Double = 60,
                    extraEnvironment: [String: String] = [:]) throws -> MPIRunResult {
        try start(executable, ranks: ranks, arguments: arguments, extraEnvironment: extraEnvironment).wait(timeout: timeout)
    }

    /// Starts the child and returns at once.
    public static func start(_ executable: URL, ranks: Int?, arguments: [String] = [],
                      extraEnvironment: [String: String] = [:]) throws -> Job {
        var argv: [String] = []
        if let ranks {
            argv = ["mpirun", "-q", "-n", "\(ranks)", "--oversubscribe", "--mca", "pml", "ob1",
                    "-x", "OPENBLAS_NUM_THREADS"]
            if getuid() == 0 { argv.insert("--allow-run-as-root", at: 1) }
        }
        argv += [executable.path] + arguments

        var environment = ProcessInfo.processInfo.environment.filter { key, _ in
            !(key.hasPrefix("OMPI_") || key.hasPrefix("PMIX_") || key.hasPrefix("OPAL_"))
        }
        environment["OPENBLAS_NUM_THREADS"] = "1"
        // As `launch` does: mpirun's own PMIx loop on libevent's poll backend (the ranks choose it
        // themselves), so that no "[warn] Epoll ..." line of the runtime's joins a command's output.
        if ranks != nil { environment["EVENT_NOEPOLL"] = "1" }
        environment["SWIFT_BACKTRACE"] = "enable=no"
        for (k, v) in extraEnvironment { environment[k] = v }

        let program: String
        if ranks == nil {
            program = executable.path
        } else {
            guard let mpirun = findInPath("mpirun", environment["PATH"] ?? "/usr/bin:/bin") else {
                throw MPIRunError(description: "mpirun not found on PATH (install openmpi-bin)")
            }
            program = mpirun
        }

        let tmp = FileManager.default.temporaryDirectory
            .appendingPathComponent("mpirun-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        let pid = try spawn(program, argv: argv, environment: environment,
                            stdoutPath: tmp.appendingPathComponent("stdout").path,
                            stderrPath: tmp.appendingPathComponent("stderr").path)
        return Job(pid: pid, command: argv.joined(separator: " "), directory: tmp)
    }

    // MARK: - posix_spawn

    private static func findInPath(_ name: String, _ path: String) -> String? {
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// `posix_spawn_file_actions_addclosefrom_np` (glibc 2.34+), looked up at run time because
    /// Swift's Glibc module does not import it; without it, descriptors stay inherited.
    private static func closeFrom(_ fd: Int32, _ actions: inout posix_spawn_file_actions_t) {
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np")
        else { return }
        _ = unsafeBitCast(symbol, to: CloseFrom.self)(&actions, fd)
    }

    /// Starts `path` in a new process group, stdin from /dev/null, stdout and stderr to files,
    /// every other descriptor closed.
    private static func spawn(_ path: String, argv: [String], environment: [String: String],
                              stdoutPath: String, stderrPath: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        closeFrom(3, &actions)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)

        let cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        let cEnv: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            cArgs.forEach { free($0) }
            cEnv.forEach { free($0) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, &attributes, cArgs, cEnv)
        guard rc == 0 else { throw MPIRunError(description: "posix_spawn \(path) failed: errno \(rc)") }
        return pid
    }
}
