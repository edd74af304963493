// Format: fixed-decimal and column formatting of numbers for tables and logs (no Foundation).

/// Right-aligns `s` in `width` columns.
func pad(_ s: String, _ width: Int) -> String {
    s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
}

/// `x` with exactly `digits` decimals (no Foundation).
public func formatFixed(_ x: Double, digits: Int) -> String {
    var scale = 1.0
    for _ in 0..<max(0, min(digits, 17)) { scale *= 10 }
    // Non-finite and huge values (beyond Int64 after scaling) print as Swift's shortest decimal.
    guard x.isFinite, abs(x) * scale < 9.0e18 else { return x.description }
    let neg = x < 0
    let r = (abs(x) * scale).rounded()
    let whole = Int64(r / scale)
    var frac = String(Int64(r - Double(whole) * scale))
    while frac.count < digits { frac = "0" + frac }
    return (neg && r != 0 ? "-" : "") + String(whole) + (digits > 0 ? "." + frac : "")
}
