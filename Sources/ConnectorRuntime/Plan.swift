#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TensorFormats

/// A program planned for one token count and grid, before anything runs: every value's shape, the
/// buffer each lives in and the scratch the kernels need, all sizes from checked arithmetic.
///
/// Values are numbered as they are computed (a node that rebinds `x` makes a new value). Buffers are
/// assigned greedily in execution order: a value takes a free buffer (the smallest that fits, else the
/// largest, grown) and gives it back after its last reader; a row-wise kernel overwrites its input when
/// nothing reads that input later; a reshape shares its input's memory. Peak memory is the sum of the
/// buffers plus the largest scratch.
public struct RunPlan: Sendable {
    struct Step: Sendable {
        let name: String
        let kernel: any Kernel
        let inputs: [Int]
        let output: Int
        let scratch: Int
        let roles: [String]
    }

    let steps: [Step]
    let shapes: [ValueShape]
    /// Per value: its buffer, or -1 for the features themselves (never written).
    let slots: [Int]
    let capacities: [Int]
    let scratch: Int
    let outputValue: Int
    /// Per value: the index of the last step that reads it (`steps.count` for the output).
    let lastUse: [Int]

    public var outputTokens: Int { shapes[outputValue].tokens }
    public var outputWidth: Int { shapes[outputValue].width }
    /// Bytes of activations and scratch for one image.
    public let activationBytes: Int
    /// The largest single value, in bytes.
    public let largestActivationBytes: Int

    init(program: Program, input: ValueShape) throws {
        var shapes = [input]
        var ids: [String: Int] = [program.input: 0]
        var steps: [Step] = []
        var maxScratch = 0
        for step in program.steps {
            let inputs = step.inputs.map { ids[$0]! }
            guard let kernel = step.kernel else {
                ids[step.output] = inputs[0]
                continue
            }
            let inputShapes = inputs.map { shapes[$0] }
            let shape = try kernel.output(for: inputShapes)
            guard shape.count != nil, let scratch = kernel.scratch(for: inputShapes) else {
                throw RuntimeError(.plan("node \(step.name): the sizes for \(input.tokens) tokens overflow"))
            }
            guard shape.tokens <= BLAS.maxDimension, shape.width <= BLAS.maxDimension else {
                throw RuntimeError(.plan("node \(step.name): [\(shape.tokens), \(shape.width)] exceeds what a BLAS call addresses"))
            }
            maxScratch = max(maxScratch, scratch)
            shapes.append(shape)
            ids[step.output] = shapes.count - 1
            steps.append(Step(name: step.name, kernel: kernel, inputs: inputs, output: shapes.count - 1, scratch: scratch,
                              roles: step.roles))
        }
        guard let output = ids[program.output] else { throw RuntimeError(.unsupported("the output \(program.output) is never computed")) }

        // Last reader of each value; the output lives to the end.
        var lastUse = [Int](repeating: -1, count: shapes.count)
        for (index, step) in steps.enumerated() { for input in step.inputs { lastUse[input] = index } }
        lastUse[output] = steps.count

        var slots = [Int](repeating: -1, count: shapes.count)
        var capacities: [Int] = []
        var users: [Int] = []
        var free: [Int] = []
        for (index, step) in steps.enumerated() {
            let need = shapes[step.output].count!
            let first = step.inputs.first
            let firstSlot = first.map { slots[$0] } ?? -1
            let reusable = first.map { lastUse[$0] == index && firstSlot >= 0 && users[firstSlot] == 1 } ?? false
            switch step.kernel.memory {
            case .view:
                slots[step.output] = firstSlot
                if firstSlot >= 0 { users[firstSlot] += 1 }
            case .inPlace where reusable:
                slots[step.output] = firstSlot
                users[firstSlot] += 1
                capacities[firstSlot] = max(capacities[firstSlot], need)
            default:
                let fitting = free.filter { capacities[$0] >= need }.min { capacities[$0] < capacities[$1] }
                let chosen = fitting ?? free.max { capacities[$0] < capacities[$1] }
                if let chosen {
                    free.removeAll { $0 == chosen }
                    capacities[chosen] = max(capacities[chosen], need)
                    users[chosen] = 1
                    slots[step.output] = chosen
                } else {
                    capacities.append(need)
                    users.append(1)
                    slots[step.output] = capacities.count - 1
                }
            }
            for input in Set(step.inputs) where lastUse[input] == index && slots[input] >= 0 {
                users[slots[input]] -= 1
                if users[slots[input]] == 0 { free.append(slots[input]) }
            }
        }
        guard let floats = checkedSum(capacities + [maxScratch]), let bytes = Checked.multiply(floats, 4) else {
            throw RuntimeError(.plan("the activations for \(input.tokens) tokens overflow the address space"))
        }
        self.steps = steps
        self.shapes = shapes
        self.slots = slots
        self.capacities = capacities
        self.scratch = maxScratch
        self.outputValue = output
        self.lastUse = lastUse
        activationBytes = bytes
        largestActivationBytes = (shapes.compactMap(\.count).max() ?? 0) * 4
    }

    /// Runs the plan on one image's features (`[tokens, width]` floats, never written) and copies the
    /// output into `destination`. `buffers` come from `makeBuffers()` and are reused across images.
    /// From a step `first` > 0, the values live there must already be in `buffers` (`RecordedRun`);
    /// `afterStep` sees each step's index and where every value lies once the step has run.
    func execute(_ features: UnsafePointer<Float>, into destination: UnsafeMutablePointer<Float>, buffers: [FloatBuffer],
                 scratch: FloatBuffer, context: RunContext, from first: Int = 0,
                 afterStep: ((Int, (Int) -> UnsafeMutablePointer<Float>) -> Void)? = nil) {
        func pointer(_ value: Int) -> UnsafeMutablePointer<Float> {
            slots[value] < 0 ? UnsafeMutablePointer(mutating: features) : buffers[slots[value]].pointer
        }
        for index in first ..< steps.count {
            let step = steps[index]
            let inputs = step.inputs.map { Value(base: pointer($0), shape: shapes[$0]) }
            let output = Value(base: pointer(step.output), shape: shapes[step.output])
            step.kernel.run(inputs, output, scratch: scratch.pointer, context)
            afterStep?(index, pointer)
        }
        destination.update(from: pointer(outputValue), count: shapes[outputValue].count!)
    }

    func makeBuffers() -> (buffers: [FloatBuffer], scratch: FloatBuffer) {
        (capacities.map { FloatBuffer(count: $0) }, FloatBuffer(count: scratch))
    }
}

/// Refuses allocations larger than the machine's physical memory, before any is made.
enum MemoryBudget {
    static var physicalBytes: Int {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
        guard pages > 0, size > 0 else { return Int.max }
        return Checked.multiply(Int(pages), Int(size)) ?? Int.max
    }

    static func check(bytes: Int, what: String) throws {
        let available = physicalBytes
        guard bytes <= available else {
            throw RuntimeError(.plan("\(what) need \(bytes) bytes, more than this machine's \(available) bytes of memory"))
        }
    }
}
