import TensorFormats

/// A patch grid: the encoder's tokens as `height` rows of `width` patches, row-major.
public struct Grid: Sendable, Equatable, CustomStringConvertible {
    public var height: Int
    public var width: Int

    public init(height: Int, width: Int) {
        self.height = height
        self.width = width
    }

    public var description: String { "\(height)x\(width)" }
    public var isSquare: Bool { height == width }
    var tokens: Int? { Checked.multiply(height, width) }

    /// `HxW` (`24x24`), or nil.
    public init?(parsing text: String) {
        let parts = text.lowercased().split(separator: "x", omittingEmptySubsequences: false)
        guard parts.count == 2, let h = Int(parts[0]), let w = Int(parts[1]), h > 0, w > 0 else { return nil }
        self.init(height: h, width: w)
    }
}

/// The concrete shape of one value while a connector runs: `tokens` rows of `width` floats, and the
/// patch grid the rows form when they still form one (the encoder's tokens, a pixel shuffle's output…).
struct ValueShape: Sendable, Equatable {
    var tokens: Int
    var width: Int
    var grid: Grid?

    var count: Int? { Checked.multiply(tokens, width) }
}

/// One value's memory during a run.
struct Value {
    let base: UnsafeMutablePointer<Float>
    let shape: ValueShape
    var tokens: Int { shape.tokens }
    var width: Int { shape.width }
    var count: Int { shape.tokens * shape.width }

    /// Starts an in-place kernel's output from its input (nothing to do when the planner gave both one buffer).
    func take(_ input: Value) {
        if base != input.base { base.update(from: input.base, count: count) }
    }
}

/// How a kernel's output may share memory with its first input.
enum KernelMemory: Sendable {
    /// A buffer of its own.
    case separate
    /// May overwrite input 0 when nothing else reads it later (element-wise and row-wise kernels).
    case inPlace
    /// Is input 0 reinterpreted (a reshape); never writes.
    case view
}

/// One operation of the graph language, bound to its weights and concrete attributes. Kernels are made
/// once per connector and planned per token count; `run` touches only its inputs, output and scratch.
protocol Kernel: Sendable {
    /// The output shape for these inputs; throws a `RuntimeError` naming the rule they break.
    func output(for inputs: [ValueShape]) throws -> ValueShape
    /// Floats of scratch memory the kernel needs for these inputs (nil: the count overflows).
    func scratch(for inputs: [ValueShape]) -> Int?
    var memory: KernelMemory { get }
    func run(_ inputs: [Value], _ output: Value, scratch: UnsafeMutablePointer<Float>, _ context: RunContext)
}

extension Kernel {
    func scratch(for inputs: [ValueShape]) -> Int? { 0 }
    var memory: KernelMemory { .separate }
}

/// What a run carries besides values: an optional observer of the rows entering every matrix weight.
struct RunContext {
    var observer: LinearInputObserver?

    /// Reports `count × width` floats entering rows `weightRows` of the weight `role` (its input side).
    func observe(_ role: String, _ rows: UnsafePointer<Float>, count: Int, width: Int, weightRows: Range<Int>) {
        observer?(LinearInput(role: role, rows: UnsafeBufferPointer(start: rows, count: count * width), width: width,
                              weightRows: weightRows))
    }
}

/// Activations entering a matrix weight: `rows` (row-major, `width` floats each: the weight's input
/// columns) multiplied by the weight rows `weightRows` of the parameter `role` (all of them, or one slice
/// of a fused projection such as `qkv`). Valid only during the observer's call.
public struct LinearInput {
    public let role: String
    public let rows: UnsafeBufferPointer<Float>
    public let width: Int
    public let weightRows: Range<Int>
}

/// Called with every block of activations entering a matrix weight, in execution order.
public typealias LinearInputObserver = (LinearInput) -> Void

/// A float32 parameter in the graph's canonical layout (`nn.Linear` weights `[out, in]`), ready for the
/// kernels. Its memory belongs to the connector's weight store.
struct Weight: @unchecked Sendable {
    let role: String
    let pointer: UnsafePointer<Float>
    let shape: [Int]
    var count: Int { shape.reduce(1, *) }
}

/// A checked sum of sizes for planning: nil when a term is nil or the sum overflows.
func checkedSum(_ terms: [Int?]) -> Int? {
    terms.reduce(Optional(0)) { total, term in total.flatMap { total in term.flatMap { Checked.add(total, $0) } } }
}
