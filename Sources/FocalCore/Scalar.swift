// Scalar: the floating-point types a model can train in (Float, Double), with their BLAS and libm.
import CBLAS
import Collectives
import FocalFormats
#if canImport(Glibc)
import Glibc
#endif

/// Training precision (`--precision`).
///
/// Kept apart from `DType` (the element type of a file): a precision picks the arithmetic and
/// BLAS of a run and has exactly two values, so a `switch` over it needs no case for integers;
/// `dtype` maps it to the element type its parameters are stored in.
public enum Precision: String, Codable, Sendable, CaseIterable {
    case float32, float64

    /// The element type of this precision's values in files.
    public var dtype: DType {
        switch self {
        case .float32: return .float32
        case .float64: return .float64
        }
    }
}

/// A training scalar: `Float` (default, `cblas_sgemm`) or `Double` (`--precision float64`, `cblas_dgemm`).
public protocol TrainScalar: BinaryFloatingPoint, CommScalar, LosslessStringConvertible, SIMDScalar, Codable where Self.RawSignificand: FixedWidthInteger {
    static var precision: Precision { get }
    static func exp(_ x: Self) -> Self
    static func expm1(_ x: Self) -> Self
    static func log(_ x: Self) -> Self
    static func pow(_ x: Self, _ y: Self) -> Self
    /// Row-major `C[m, n] = alpha * op(A) * op(B) + beta * C` (cblas_?gemm).
    static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Self,
                     a: UnsafePointer<Self>, lda: Int, b: UnsafePointer<Self>, ldb: Int,
                     beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
    /// Row-major `y[n] = alpha * A[m, n]^T x[m] + beta * y` (cblas_?gemv, transposed).
    static func gemvT(m: Int, n: Int, alpha: Self, a: UnsafePointer<Self>, lda: Int,
                      x: UnsafePointer<Self>, beta: Self, y: UnsafeMutablePointer<Self>)
}

@inline(__always) private func trans(_ t: Bool) -> CBLAS_TRANSPOSE { t ? CblasTrans : CblasNoTrans }

extension Float: TrainScalar {
    public static var precision: Precision { .float32 }
    @inline(__always) public static func exp(_ x: Float) -> Float { expf(x) }
    @inline(__always) public static func expm1(_ x: Float) -> Float { expm1f(x) }
    @inline(__always) public static func log(_ x: Float) -> Float { logf(x) }
    @inline(__always) public static func pow(_ x: Float, _ y: Float) -> Float { powf(x, y) }
    public static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                            a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                            beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        cblas_sgemm(CblasRowMajor, trans(transA), trans(transB), Int32(m), Int32(n), Int32(k), alpha,
                    a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
    public static func gemvT(m: Int, n: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
                             x: UnsafePointer<Float>, beta: Float, y: UnsafeMutablePointer<Float>) {
        cblas_sgemv(CblasRowMajor, CblasTrans, Int32(m), Int32(n), alpha, a, Int32(lda), x, 1, beta, y, 1)
    }
}

extension Double: TrainScalar {
    public static var precision: Precision { .float64 }
    @inline(__always) public static func exp(_ x: Double) -> Double { Glibc.exp(x) }
    @inline(__always) public static func expm1(_ x: Double) -> Double { Glibc.expm1(x) }
    @inline(__always) public static func log(_ x: Double) -> Double { Glibc.log(x) }
    @inline(__always) public static func pow(_ x: Double, _ y: Double) -> Double { Glibc.pow(x, y) }
    public static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Double,
                            a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
                            beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int) {
        cblas_dgemm(CblasRowMajor, trans(transA), trans(transB), Int32(m), Int32(n), Int32(k), alpha,
                    a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
    public static func gemvT(m: Int, n: Int, alpha: Double, a: UnsafePointer<Double>, lda: Int,
                             x: UnsafePointer<Double>, beta: Double, y: UnsafeMutablePointer<Double>) {
        cblas_dgemv(CblasRowMajor, CblasTrans, Int32(m), Int32(n), alpha, a, Int32(lda), x, 1, beta, y, 1)
    }
}

/// Pins OpenBLAS to one thread. Results of a BLAS call depend on its thread count (measured:
/// 4096x64x256 sgemm differs between 1 and 2 threads), so bitwise reproducibility needs a fixed
/// count; one thread per rank is also the fastest layout for several ranks per host.
public func pinBLASToOneThread() {
    openblas_set_num_threads(1)
}

// MARK: - Naive reference kernels (test oracles for the BLAS paths)

/// Reference row-major GEMM with a plain sequential sum per output element (the oracle of `gemm`).
public func naiveGemm<T: TrainScalar>(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: T,
                                      a: [T], lda: Int, b: [T], ldb: Int, beta: T, c: inout [T], ldc: Int) {
    for i in 0..<m {
        for j in 0..<n {
            var acc: T = 0
            for p in 0..<k {
                let av = transA ? a[p * lda + i] : a[i * lda + p]
                let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                acc += av * bv
            }
            c[i * ldc + j] = alpha * acc + (beta == 0 ? 0 : beta * c[i * ldc + j])
        }
    }
}
