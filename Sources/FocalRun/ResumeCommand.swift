// ResumeCommand: the shell line printed after a signal, which resumes the run from its newest
// checkpoint: every argument shell-quoted, any earlier `--resume` (with its value) replaced.

/// `s` quoted for a POSIX shell: unchanged when every character is safe, else in single quotes
/// (a single quote inside becomes `'\''`). The empty string becomes `''`.
public func shellQuoted(_ s: String) -> String {
    let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./_-")
    if !s.isEmpty && s.allSatisfy({ safe.contains($0) }) { return s }
    var out = "'"
    for c in s { if c == "'" { out += "'\\''" } else { out.append(c) } }
    return out + "'"
}

/// The run's arguments without `--resume VALUE` and `--resume=VALUE` (the value of the separate
/// form is the next argument, whatever it looks like, as swift-argument-parser reads it).
public func argumentsWithoutResume(_ arguments: [String]) -> [String] {
    var out: [String] = []
    var i = 0
    while i < arguments.count {
        let a = arguments[i]
        if a == "--" { out += arguments[i...]; break }
        if a == "--resume" { i += 2; continue }
        if a.hasPrefix("--resume=") { i += 1; continue }
        out.append(a)
        i += 1
    }
    return out
}

/// `./launch -n RANKS ARGUMENTS --resume CHECKPOINT`, every argument quoted for the shell. Under
/// `--simulate-ranks` the ranks are threads of one process, so the launch is `-n 1`.
public func resumeCommand(arguments: [String], ranks: Int, checkpoint: String) -> String {
    let kept = argumentsWithoutResume(arguments)
    let simulated = kept.contains { $0 == "--simulate-ranks" || $0.hasPrefix("--simulate-ranks=") }
    let words = ["./launch", "-n", String(simulated ? 1 : max(1, ranks))] + kept + ["--resume", checkpoint]
    return words.map(shellQuoted).joined(separator: " ")
}
