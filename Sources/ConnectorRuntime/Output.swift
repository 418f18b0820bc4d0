#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ConnectorGraph
import CRuntimeKernels
import TensorFormats

/// Summary statistics of an output, over every value: accumulated in double precision, non-finite
/// values counted and left out of the others.
public struct OutputStatistics: Sendable, Equatable {
    public var count: Int
    public var mean: Double
    public var standardDeviation: Double
    public var maxAbs: Double
    public var nonFinite: Int
}

extension RunOutput {
    public var statistics: OutputStatistics {
        var sums = [0.0, 0.0, 0.0]
        let nonFinite = ckr_stats(values.pointer, values.count, &sums)
        let finite = values.count - nonFinite
        let mean = finite > 0 ? sums[0] / Double(finite) : 0
        let variance = finite > 0 ? max(0, sums[1] / Double(finite) - mean * mean) : 0
        return OutputStatistics(count: values.count, mean: mean, standardDeviation: variance.squareRoot(), maxAbs: sums[2],
                                nonFinite: nonFinite)
    }

    /// Whether every output token is bit-for-bit the same as the first (a collapsed connector).
    public var tokensAllEqual: Bool {
        guard rows > 1 else { return false }
        let bytes = width * MemoryLayout<Float>.stride
        for row in 1 ..< rows where memcmp(values.pointer, values.pointer + row * width, bytes) != 0 { return false }
        return true
    }

    /// Writes the output as one float32 tensor named `output`, shaped as `shape`, to `path` (`.npy`, `.npz`
    /// or `.safetensors`), atomically; `path` may not be any of `inputs`.
    public func write(to path: String, inputs: [String]) throws {
        let writer = try RunOutput.writer(for: path, inputs: inputs)
        let info = try TensorInfo(name: "output", dtype: .f32, shape: shape)
        let values = self.values
        let tensor = OutputTensor(info: info) { output in
            try output.write(UnsafeRawBufferPointer(start: values.pointer, count: values.count * MemoryLayout<Float>.stride))
        }
        try writer.write([tensor], metadata: [])
    }

    /// Refuses an output path before anything is computed: an extension that is not `.npy`, `.npz` or
    /// `.safetensors`, a folder, or one of `inputs`.
    public static func checkDestination(_ path: String, inputs: [String]) throws {
        _ = try writer(for: path, inputs: inputs)
        let probe = try OutputFile(path: path, overwrite: true, inputs: inputs)
        probe.abandon()
    }

    static func writer(for path: String, inputs: [String]) throws -> CheckpointWriter {
        // Before `CheckpointWriter`, whose refusal of an unknown extension lists .gguf, which `run` does not write;
        // a path the command line gave, so a usage error.
        guard let format = OutputFormat(path: path), format != .gguf else {
            throw FormatError(.unsupportedFormat("the output is written as .npy, .npz or .safetensors"), file: path, code: .usage)
        }
        return try CheckpointWriter(path: path, overwrite: true, inputs: inputs)
    }
}

extension RunOutput {
    /// `validate --run`'s functional check: NaN or infinity in the output is an error
    /// (`non-finite-output`), every token bit-for-bit equal a warning (`collapsed-output`).
    public func functionalDiagnostics(features origin: String) -> [Diagnostic] {
        var diagnostics: [Diagnostic] = []
        let stats = statistics
        if stats.nonFinite > 0 {
            diagnostics.append(Diagnostic(.nonFiniteOutput,
                "the output on \(origin) holds \(stats.nonFinite) non-finite value\(stats.nonFinite == 1 ? "" : "s") of \(stats.count)",
                hint: "finite weights whose activations overflow float32, or weights that were never trained"))
        }
        if tokensAllEqual {
            diagnostics.append(Diagnostic(.collapsedOutput, "all \(rows) output tokens on \(origin) are bit-for-bit the same",
                                          hint: "the connector ignores its input: a zero or constant weight, a zero gate"))
        }
        return diagnostics
    }
}
