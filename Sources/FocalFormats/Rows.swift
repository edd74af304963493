// Rows: a block of labelled rows (features and class labels), as readers and data sources hand them over.

/// A block of rows: features `x` `[count, features]` row-major float64, labels `y` `[count]`.
public struct Rows: Sendable, Equatable {
    public var features: Int
    /// `[count, features]`, row-major.
    public var x: [Double]
    /// `[count]`, class indices `0..<classes`.
    public var y: [Int32]

    public var count: Int { y.count }

    public init(features: Int, x: [Double] = [], y: [Int32] = []) {
        precondition(x.count == y.count * features, "Rows: x must hold count * features values")
        self.features = features
        self.x = x
        self.y = y
    }
}
