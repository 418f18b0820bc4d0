import ConnectorGraph

/// Attributes of graph nodes that the runtime reads beyond the operation itself, with the defaults a
/// description that does not state them gets.
extension OperationNode {
    /// The normalisation epsilon (PyTorch's default for the operation when nil).
    var eps: Double? { nil }
    /// The pixel shuffle's element order.
    var shuffleOrder: ShuffleOrder { .standard }
    /// How a position table meets its tokens.
    var positionLayout: PositionLayout { .sequence }
}

enum ShuffleOrder: Sendable { case standard, transposed }
