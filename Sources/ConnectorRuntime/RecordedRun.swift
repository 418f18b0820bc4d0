import TensorFormats

/// A run of a connector that keeps the intermediate values later steps read, so that the output of the
/// same connector with some parameters replaced (a weight quantized and read back, say) is computed
/// again only from the first step that reads one of them: the values before that step do not depend on
/// the replaced parameters and are reused. For the same replacements the output bits are those of a
/// fresh `Connector.run` of the replaced connector.
///
/// What is kept: every value that is live at the start of some step reading a parameter (it was
/// computed before that step and is read at or after it), once per image, copied when it is computed.
/// The features themselves are never copied. A `RecordedRun` reuses its buffers from call to call: use
/// one from one thread at a time.
public final class RecordedRun {
    public let connector: Connector
    public let features: Features
    public let grid: Grid?
    /// The original connector's output.
    public let output: RunOutput
    private let plan: RunPlan
    /// The first step that reads each parameter role.
    private let firstReader: [String: Int]
    /// `saved[image][value]`: the values some restart needs.
    private var saved: [[FloatBuffer?]]
    private let buffers: [FloatBuffer]
    private let scratch: FloatBuffer

    /// Runs `connector` on `features`, keeping what a later restart needs; `observer` sees the rows entering
    /// every matrix weight, as in `Connector.run`.
    public init(_ connector: Connector, features: Features, grid: Grid? = nil, observer: LinearInputObserver? = nil) throws {
        self.connector = connector
        self.features = features
        self.grid = grid
        var needed: [Bool] = []
        var firstReader: [String: Int] = [:]
        let (plan, output) = try connector.prepare(features, grid: grid) { plan in
            for (index, step) in plan.steps.enumerated() {
                for role in step.roles where firstReader[role] == nil { firstReader[role] = index }
            }
            // Value v (v ≥ 1) is the output of step v - 1; a restart at step k needs it when v ≤ k ≤ lastUse[v].
            let restarts = Set(firstReader.values)
            needed = [Bool](repeating: false, count: plan.shapes.count)
            var keptFloats: Int? = 0
            for value in 1 ..< plan.shapes.count where plan.slots[value] >= 0 {
                guard restarts.contains(where: { value <= $0 && $0 <= plan.lastUse[value] }) else { continue }
                needed[value] = true
                keptFloats = checkedSum([keptFloats, plan.shapes[value].count])
            }
            guard let perBatch = keptFloats.flatMap({ Checked.multiply($0, features.batch) }), let bytes = Checked.multiply(perBatch, 4) else {
                throw RuntimeError(.plan("the intermediate values to keep for \(features.batch) images overflow the address space"))
            }
            return bytes
        }
        let (buffers, scratch) = plan.makeBuffers()
        let context = RunContext(observer: observer)
        var saved: [[FloatBuffer?]] = []
        for image in 0 ..< features.batch {
            var kept = [FloatBuffer?](repeating: nil, count: plan.shapes.count)
            plan.execute(features.image(image), into: output.values.pointer + image * output.tokens * output.width, buffers: buffers,
                         scratch: scratch, context: context) { step, pointer in
                let value = step + 1
                guard needed[value] else { return }
                let copy = FloatBuffer(count: plan.shapes[value].count!)
                copy.pointer.update(from: pointer(value), count: copy.count)
                kept[value] = copy
            }
            saved.append(kept)
        }
        self.plan = plan
        self.output = output
        self.firstReader = firstReader
        self.saved = saved
        self.buffers = buffers
        self.scratch = scratch
    }

    /// The parameter roles the run reads, in the order of the first step reading each.
    public var roles: [String] { firstReader.sorted { ($0.value, $0.key) < ($1.value, $1.key) }.map(\.key) }

    /// The index of the first step that reads `role` (nil: the run does not read it).
    public func firstStep(reading role: String) -> Int? { firstReader[role] }

    /// The number of steps of the run.
    public var stepCount: Int { plan.steps.count }

    /// The output of the connector with `replacements` (role → values in canonical layout, same shape),
    /// computed from the first step that reads a replaced role. Throws for a role the run does not read.
    public func output(replacing replacements: [String: [Float]]) throws -> RunOutput {
        guard !replacements.isEmpty else { return output }
        var start = plan.steps.count
        for role in replacements.keys {
            guard let step = firstReader[role] else {
                throw RuntimeError(.weight("the connector's run does not read \(role)"))
            }
            start = min(start, step)
        }
        let replaced = try connector.replacing(replacements)
        let (newPlan, result) = try replaced.prepare(features, grid: grid)
        guard newPlan.slots == plan.slots, newPlan.steps.count == plan.steps.count else {
            throw RuntimeError(.plan("the connector with replaced weights plans differently"))
        }
        let context = RunContext(observer: nil)
        for image in 0 ..< features.batch {
            for value in stride(from: 1, through: start, by: 1) where value < plan.shapes.count && plan.slots[value] >= 0 && plan.lastUse[value] >= start {
                guard let kept = saved[image][value] else { preconditionFailure("value \(value), live at a restart, was not kept") }
                buffers[plan.slots[value]].pointer.update(from: kept.pointer, count: kept.count)
            }
            newPlan.execute(features.image(image), into: result.values.pointer + image * result.tokens * result.width, buffers: buffers,
                            scratch: scratch, context: context, from: start)
        }
        return result
    }
}
