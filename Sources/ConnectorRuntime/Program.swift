import ConnectorGraph
import TensorFormats

/// A connector graph unrolled for concrete dimensions: the nodes of the connector proper in execution
/// order (repeat blocks expanded, `when` conditions evaluated, LLM-side and text-path nodes left out),
/// each bound to its kernel. Nothing here knows a family: every behaviour comes from the graph.
package struct Program: Sendable {
    struct Step: Sendable {
        /// The node's instantiated name (`layers.3.attn`).
        let name: String
        /// nil: an optional node whose parameters are all absent; its output is its first input.
        let kernel: (any Kernel)?
        let inputs: [String]
        let output: String
        /// The parameter roles the kernel reads.
        let roles: [String]
    }

    let input: String
    let output: String
    let steps: [Step]

    /// Unrolls `graph` with `dims` (symbol → value), taking parameters from `weights`.
    init(graph: ConnectorGraph, dims: [String: Int], weights: WeightStore, configured: ConfiguredAttributes) throws {
        guard let input = graph.inputs.first, let output = graph.outputs.first else {
            throw RuntimeError(.unsupported("the graph \(graph.name) declares no input or no output"))
        }
        self.input = input.name
        self.output = output.name
        var steps: [Step] = []
        var defined: Set<String> = [input.name]
        try Program.walk(graph, dims: dims) { node, name, roles, lookup in
            for value in node.inputs where !defined.contains(value) {
                throw RuntimeError(.unsupported("node \(name) reads \(value), which the connector does not compute (the runtime feeds only the image features)"))
            }
            var slots: [String: Weight] = [:]
            var bound: [String] = []
            for (param, role) in zip(node.params, roles) {
                if let weight = weights[role] {
                    slots[param.slot] = weight
                    bound.append(role)
                }
            }
            if node.optional && slots.isEmpty && !node.params.isEmpty && !node.operation.runsWithoutParameters {
                // An optional node the checkpoint does not hold: its output is its input.
                guard node.inputs.count == 1 else { return }
                steps.append(Step(name: name, kernel: nil, inputs: node.inputs, output: node.output, roles: []))
            } else {
                let kernel = try KernelFactory.make(node, name: name, slots: slots, lookup: lookup, configured: configured)
                steps.append(Step(name: name, kernel: kernel, inputs: node.inputs, output: node.output, roles: bound))
            }
            defined.insert(node.output)
        }
        guard defined.contains(output.name) else {
            throw RuntimeError(.unsupported("the graph's output \(output.name) is not computed by the connector's nodes"))
        }
        self.steps = steps
    }

    /// The concrete parameter roles the connector's nodes use, in execution order.
    package static func roles(_ graph: ConnectorGraph, dims: [String: Int]) throws -> [String] {
        var roles: [String] = []
        try walk(graph, dims: dims) { _, _, nodeRoles, _ in roles += nodeRoles }
        return roles
    }

    /// Visits the connector-site nodes in execution order, repeats unrolled and `when` conditions applied,
    /// with each node's instantiated name and parameter roles and a lookup of dimensions and indices.
    package static func walk(_ graph: ConnectorGraph, dims: [String: Int],
                     _ visit: (OperationNode, String, [String], (String) -> Int?) throws -> Void) throws {
        func walk(_ items: [GraphNode], _ indices: [String: Int]) throws {
            let lookup: (String) -> Int? = { indices[$0] ?? dims[$0] }
            for item in items {
                switch item {
                case .repeatBlock(let block):
                    // LLM-side and text-path blocks are not part of the run (their counts may be unknown).
                    guard runsInConnector(block.body) else { continue }
                    guard let count = block.count.value(lookup), count >= 0 else {
                        throw RuntimeError(.unsupported("the repeat count \(block.count) of \(block.name) is not known"))
                    }
                    for value in 0 ..< count {
                        var inner = indices
                        inner[block.index] = value
                        try walk(block.body, inner)
                    }
                case .operation(let node):
                    guard node.site == .connector else { continue }
                    if let condition = node.when, let index = indices[condition.index] {
                        guard let every = condition.every.value(lookup), every > 0, let phase = condition.phase.value(lookup) else {
                            throw RuntimeError(.unsupported("the condition of \(node.name) depends on an unknown dimension"))
                        }
                        if index % every != phase { continue }
                    }
                    let roles = try node.params.map { try instantiate($0.role, indices) }
                    try visit(node, try instantiate(node.name, indices), roles, lookup)
                }
            }
        }
        try walk(graph.nodes, [:])
    }

    static func runsInConnector(_ items: [GraphNode]) -> Bool {
        items.contains { item in
            switch item {
            case .operation(let node): node.site == .connector
            case .repeatBlock(let block): runsInConnector(block.body)
            }
        }
    }
}

/// A node or role name template (`layers.{i}.attn`, `proj.{k+1}`) with its repeat indices filled in.
func instantiate(_ template: String, _ indices: [String: Int]) throws -> String {
    guard template.contains("{") else { return template }
    var out = ""
    var rest = Substring(template)
    while let open = rest.firstIndex(of: "{") {
        out += rest[..<open]
        guard let close = rest[open...].firstIndex(of: "}") else { break }
        let text = String(rest[rest.index(after: open) ..< close])
        guard let value = (try? DimExpr(parsing: text))?.value(indices), value >= 0 else {
            throw RuntimeError(.unsupported("cannot instantiate \(template): {\(text)} has no value"))
        }
        out += String(value)
        rest = rest[rest.index(after: close)...]
    }
    return out + rest
}
