// ExitStatusFile: each rank leaves its exit status for `./launch`, which maps mpirun's own status
// (1 after a forwarded SIGTERM or SIGINT) back to the status the ranks agreed on (6: interrupted).
#if canImport(Glibc)
import Glibc
#endif

/// Writes `code` to `$FOCAL_STATUS_DIR/status-RANK` when that directory exists on this host
/// (`./launch` creates it; ranks on other hosts have none and write nothing). Best effort: a
/// failure here never changes the exit status.
func leaveExitStatus(_ code: Int32) {
    guard let dir = getenv("FOCAL_STATUS_DIR").map({ String(cString: $0) }), !dir.isEmpty else { return }
    let path = "\(dir)/status-\(launcher.rank)"
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { return }
    let bytes = Array("\(code)\n".utf8)
    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    close(fd)
}
