import ConnectorGraph

/// Attributes of graph nodes that the runtime reads beyond the operation itself, with the defaults a
/// description that does not state them gets.
extension OperationNode {
    /// How a position table meets its tokens.
    var positionLayout: PositionLayout { .sequence }
}
