import ConnectorGraph
import ConnectorQuantization
import ConnectorRuntime
import ConnkitTestSupport
import Foundation
import Quantization
import TensorFormats
import Testing

/// Connector checkpoints for the output-judged quantization tests: two generated here with seeded
/// weights at dimensions the k-quants take (rows of 256), and two of the forward-pass fixtures
/// (Tests/Fixtures/runtime, transformers' modules and config.json).
struct ConnectorCase: CustomTestStringConvertible, Sendable {
    let name: String
    /// A safetensors file.
    let checkpoint: String
    let config: String?
    let grid: Grid?
    let tokens: Int

    var testDescription: String { name }

    /// LLaVA-1.5's projector (transformers' names), `encoder` → `llm`, N(0, 1/fan_in) weights.
    static func llava(in scratch: Scratch, encoder: Int = 256, llm: Int = 256) throws -> ConnectorCase {
        var random = SeededNormal(seed: 1)
        let prefix = "model.multi_modal_projector."
        let path = scratch.file("llava.safetensors")
        try writeSafetensors([
            (prefix + "linear_1.weight", [llm, encoder], random.weights(llm, encoder)),
            (prefix + "linear_1.bias", [llm], random.values(llm, scale: 0.1)),
            (prefix + "linear_2.weight", [llm, llm], random.weights(llm, llm)),
            (prefix + "linear_2.bias", [llm], random.values(llm, scale: 0.1)),
        ], to: path)
        return ConnectorCase(name: "llava", checkpoint: path, config: nil, grid: nil, tokens: 64)
    }

    /// Qwen2-VL's merger (LayerNorm over `context`, 2×2 merge, MLP 4·context → 4·context → `llm`).
    static func qwen2VL(in scratch: Scratch, context: Int = 64, llm: Int = 256) throws -> ConnectorCase {
        var random = SeededNormal(seed: 2)
        let prefix = "model.visual.merger.", wide = 4 * context
        let path = scratch.file("qwen2vl.safetensors")
        try writeSafetensors([
            (prefix + "ln_q.weight", [context], random.values(context, scale: 0.1).map { $0 + 1 }),
            (prefix + "ln_q.bias", [context], random.values(context, scale: 0.1)),
            (prefix + "mlp.0.weight", [wide, wide], random.weights(wide, wide)),
            (prefix + "mlp.0.bias", [wide], random.values(wide, scale: 0.1)),
            (prefix + "mlp.2.weight", [llm, wide], random.weights(llm, wide)),
            (prefix + "mlp.2.bias", [llm], random.values(llm, scale: 0.1)),
        ], to: path)
        return ConnectorCase(name: "qwen2-vl", checkpoint: path, config: nil, grid: Grid(height: 8, width: 8), tokens: 64)
    }

    /// A forward-pass fixture's transformers checkpoint (`blip2`, `idefics2`).
    static func fixture(_ name: String, tokens: Int) -> ConnectorCase {
        let folder = CLI.fixture("runtime/\(name)/hf/")
        return ConnectorCase(name: name, checkpoint: folder + "model.safetensors", config: folder + "config.json", grid: nil, tokens: tokens)
    }

    /// The checkpoint, its validated connector and the runtime's.
    func open() throws -> (Checkpoint, BoundConnector, Connector) {
        let checkpoint = try CheckpointReader.open(self.checkpoint)
        let configs = try config.map { [try ConfigReader.read(path: $0)] } ?? []
        let report = Validator.validate(ValidationRequest(checkpoint: checkpoint, configs: configs, checkValues: true))
        guard report.valid, let bound = report.connector else { throw CaseError("\(name) does not validate: \(report.diagnostics.map(\.line))") }
        return (checkpoint, bound, try Connector(bound: bound))
    }

    /// Seeded standard-normal features for this case's connector (as `--random tokens --seed seed`).
    func features(_ connector: Connector, seed: UInt64 = 0) throws -> EvaluationFeatures {
        EvaluationFeatures(features: try Features.random(tokens: tokens, width: connector.inputWidth, seed: seed), grid: grid, synthetic: true)
    }

    /// Quantizes into `path` through the library entry point.
    func quantize(_ request: OutputQuantizeRequest, to path: String, seed: UInt64 = 0,
                  heldOut: EvaluationFeatures? = nil) throws -> OutputQuantizationReport {
        let (checkpoint, bound, connector) = try open()
        return try ConnectorQuantize.run(checkpoint, bound: bound, connector: connector, features: try features(connector, seed: seed),
                                         heldOut: heldOut, to: path, request: request, overwrite: true)
    }
}

struct CaseError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Seeded N(0, 1) draws (SplitMix64, Box–Muller).
struct SeededNormal {
    var state: UInt64

    init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 }

    mutating func uniform() -> Double {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return (Double((z ^ (z >> 31)) >> 11) + 0.5) / Double(1 << 53)
    }

    mutating func next() -> Double {
        (-2 * log(uniform())).squareRoot() * cos(2 * Double.pi * uniform())
    }

    mutating func values(_ count: Int, scale: Double = 1) -> [Float] { (0 ..< count).map { _ in Float(scale * next()) } }

    /// A linear layer's `[out, in]` weight, N(0, 1/in).
    mutating func weights(_ out: Int, _ inputs: Int) -> [Float] { values(out * inputs, scale: 1 / Double(inputs).squareRoot()) }
}

/// Writes float32 tensors to a safetensors file.
func writeSafetensors(_ tensors: [(String, [Int], [Float])], to path: String) throws {
    let outputs = try tensors.map { name, shape, values in
        OutputTensor(info: try TensorInfo(name: name, dtype: .f32, shape: shape)) { output in
            try values.withUnsafeBytes { try output.write($0) }
        }
    }
    _ = try CheckpointWriter(path: path, overwrite: true).write(outputs, metadata: [])
}

/// The output figures computed here, in double precision, from two runs' values: per-token cosine
/// (minimum and mean), ‖a−b‖/‖a‖ and max |a−b| — written from their definitions, not the library's.
struct IndependentFigures {
    var minCosine = 1.0, meanCosine = 0.0, relativeL2 = 0.0, maxAbs = 0.0

    init(_ reference: RunOutput, _ other: RunOutput) {
        let width = reference.width, rows = reference.rows
        var difference = 0.0, norm = 0.0, cosineSum = 0.0
        for row in 0 ..< rows {
            var dot = 0.0, aa = 0.0, bb = 0.0
            for column in 0 ..< width {
                let a = Double(reference.values.pointer[row * width + column]), b = Double(other.values.pointer[row * width + column])
                dot += a * b
                aa += a * a
                bb += b * b
                difference += (a - b) * (a - b)
                maxAbs = max(maxAbs, abs(a - b))
            }
            norm += aa
            let cosine = dot / (aa.squareRoot() * bb.squareRoot())
            minCosine = min(minCosine, cosine)
            cosineSum += cosine
        }
        meanCosine = cosineSum / Double(rows)
        relativeL2 = (difference / norm).squareRoot()
    }
}

/// The connector of a written file, run afresh: every tensor of `written` decoded to float32 by the file
/// readers (gguf-py's values for ggml types and casts; an MLX weight from its codes, scales and biases as
/// `mx.dequantize` computes them) and put under its name in a new safetensors checkpoint, then validated,
/// bound and run with a new `Connector` (no `RecordedRun`).
func freshRunOfWritten(_ written: String, case connectorCase: ConnectorCase, report: OutputQuantizationReport, scratch: Scratch,
                       features: Features) throws -> RunOutput {
    let (original, _, _) = try connectorCase.open()
    let file = try CheckpointReader.open(written)
    let mlx = try OutputEvaluator.writtenValues(path: written, report: report.quantization, original: original)
    var tensors: [(String, [Int], [Float])] = []
    for tensor in original.tensors {
        var floats = [Float](repeating: 0, count: tensor.info.elementCount)
        if let stored = file.tensor(named: tensor.name), stored.dtype.readsAsFloat32, stored.info.elementCount == floats.count {
            try floats.withUnsafeMutableBufferPointer { try stored.readFloats(into: $0) }
        } else if let values = mlx[tensor.name] {
            floats = values
        } else {
            throw CaseError("\(tensor.name) is not in \(written)")
        }
        tensors.append((tensor.name, tensor.shape, floats))
    }
    let path = scratch.file("dequantized-\(UUID().uuidString).safetensors")
    try writeSafetensors(tensors, to: path)
    let rebuilt = ConnectorCase(name: connectorCase.name, checkpoint: path, config: connectorCase.config, grid: connectorCase.grid,
                                tokens: connectorCase.tokens)
    return try rebuilt.open().2.run(features, grid: connectorCase.grid)
}
