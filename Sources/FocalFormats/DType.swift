// DType: the element types of the files focal-ddp reads and writes, with their .npy and safetensors names.

/// An element type of a tensor or array file: little-endian IEEE 754 floats or two's-complement
/// integers. Spelled `float32`/`float64`/... on the command line (the raw value), `<f4` in an .npy
/// header (NEP 1, `descr`), `F32` in a safetensors header (huggingface/safetensors README, "Format").
public enum DType: String, Sendable, CaseIterable, Codable {
    case float32, float64, int32, int64

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .float32, .int32: return 4
        case .float64, .int64: return 8
        }
    }

    /// The .npy `descr` (little-endian): `<f4`, `<f8`, `<i4`, `<i8`.
    public var npyDescr: String {
        switch self {
        case .float32: return "<f4"
        case .float64: return "<f8"
        case .int32: return "<i4"
        case .int64: return "<i8"
        }
    }

    /// The safetensors dtype name: `F32`, `F64`, `I32`, `I64`.
    public var safetensorsName: String {
        switch self {
        case .float32: return "F32"
        case .float64: return "F64"
        case .int32: return "I32"
        case .int64: return "I64"
        }
    }

    public var isFloatingPoint: Bool { self == .float32 || self == .float64 }

    /// The type of an .npy `descr`, or nil if unsupported.
    public init?(npyDescr: String) {
        guard let t = DType.allCases.first(where: { $0.npyDescr == npyDescr }) else { return nil }
        self = t
    }

    /// The type of a safetensors dtype name, or nil if unsupported.
    public init?(safetensorsName: String) {
        guard let t = DType.allCases.first(where: { $0.safetensorsName == safetensorsName }) else { return nil }
        self = t
    }
}
