import ConnectorGraph
import ConnectorQuantization
import ConnectorRuntime
import ConnkitTestSupport
import Foundation
import Quantization
import TensorFormats
import Testing

/// `--imatrix`, `--imatrix-out`, `--imatrix-file`: the statistics collected from the connector's run are
/// recomputed here from the features and the weights; the file layout is read back by the GGUF reader
/// and files gguf-py wrote in llama.cpp's layout (Tests/Fixtures/quant/imatrix/generate.py) are read.
@Suite struct ImportanceTests {
    static let prefix = "model.multi_modal_projector."

    /// Σx² per input column of each linear layer over the tokens entering it, and the token count, in
    /// llama.cpp's layout; q8_0 (which ggml does not weight) is written byte for byte as without.
    @Test func collectedStatisticsAndTheirFile() throws {
        let scratch = try Scratch()
        let connectorCase = try ConnectorCase.llava(in: scratch)
        var request = OutputQuantizeRequest(quantize: QuantizeRequest(type: .ggml(.q8_0)))
        request.importance = .collect
        request.importanceOut = scratch.file("imatrix.gguf")
        let report = try connectorCase.quantize(request, to: scratch.file("weighted.gguf"))
        #expect(report.importance?.source == "features")
        #expect(report.importance?.tensors == [Self.prefix + "linear_1.weight", Self.prefix + "linear_2.weight"])

        // Recomputed: the features' squares, and those of GELU(x·W1ᵀ + b1).
        let (checkpoint, _, connector) = try connectorCase.open()
        let features = try connectorCase.features(connector).features
        let tokens = features.tokens, width = features.width
        let x = (0 ..< tokens * width).map { Double(features.values.pointer[$0]) }
        func floats(_ name: String) throws -> [Float] {
            let tensor = try #require(checkpoint.tensor(named: Self.prefix + name))
            var values = [Float](repeating: 0, count: tensor.info.elementCount)
            try values.withUnsafeMutableBufferPointer { try tensor.readFloats(into: $0) }
            return values
        }
        let w1 = try floats("linear_1.weight"), b1 = try floats("linear_1.bias"), hidden = b1.count
        var first = [Double](repeating: 0, count: width), second = [Double](repeating: 0, count: hidden)
        for t in 0 ..< tokens {
            for c in 0 ..< width { first[c] += x[t * width + c] * x[t * width + c] }
            for o in 0 ..< hidden {
                var sum = Double(b1[o])
                for c in 0 ..< width { sum += x[t * width + c] * Double(w1[o * width + c]) }
                let gelu = sum / 2 * (1 + erf(sum / 2.0.squareRoot()))
                second[o] += gelu * gelu
            }
        }

        let file = try CheckpointReader.open(scratch.file("imatrix.gguf"))
        #expect(file.format == .gguf)
        #expect(file.metadata["general.type"] == .string("imatrix"))
        #expect(file.metadata["imatrix.chunk_count"] == .uint32(1))
        #expect(file.metadata["imatrix.chunk_size"] == .uint32(UInt32(tokens)))
        let names: [String] = ["linear_1.weight.counts", "linear_1.weight.in_sum2", "linear_2.weight.counts", "linear_2.weight.in_sum2"]
        #expect(file.tensors.map(\.name).sorted() == names.map { Self.prefix + $0 })
        for (name, expected) in [("linear_1.weight", first), ("linear_2.weight", second)] {
            let sums = try #require(file.tensor(named: Self.prefix + name + ".in_sum2"))
            let counts = try #require(file.tensor(named: Self.prefix + name + ".counts"))
            #expect(sums.dtype == .f32 && sums.shape == [1, expected.count] && counts.shape == [1, 1])
            var values = [Float](repeating: 0, count: expected.count), count: [Float] = [0]
            try values.withUnsafeMutableBufferPointer { try sums.readFloats(into: $0) }
            try count.withUnsafeMutableBufferPointer { try counts.readFloats(into: $0) }
            #expect(count == [Float(tokens)])
            let worst = zip(values, expected).map { abs(Double($0) - $1) / max($1, 1e-6) }.max() ?? 1
            #expect(worst < 1e-5, "\(name): relative error \(worst)")
        }

        // q8_0 takes no weights in ggml: the same bytes as without them; read back from the file too.
        let plain = try connectorCase.quantize(OutputQuantizeRequest(quantize: QuantizeRequest(type: .ggml(.q8_0))),
                                               to: scratch.file("plain.gguf"))
        #expect(plain.entries.map(\.bytesAfter) == report.entries.map(\.bytesAfter))
        #expect(try Self.tensorBytes(scratch.file("weighted.gguf")) == Self.tensorBytes(scratch.file("plain.gguf")))
        var fromFile = OutputQuantizeRequest(quantize: QuantizeRequest(type: .ggml(.q8_0)))
        fromFile.importance = .file(scratch.file("imatrix.gguf"))
        let reread = try connectorCase.quantize(fromFile, to: scratch.file("reread.gguf"))
        #expect(reread.importance?.source == "file" && reread.importance?.tensors == report.importance?.tensors)
        #expect(try Self.tensorBytes(scratch.file("reread.gguf")) == Self.tensorBytes(scratch.file("plain.gguf")))
    }

    /// A file gguf-py wrote in llama.cpp's layout: the vectors are in_sum2 / lround(count).
    @Test func readsLlamaCppLayout() throws {
        let scratch = try Scratch()
        let (checkpoint, _, _) = try ConnectorCase.llava(in: scratch).open()
        let matrix = try ImportanceMatrix.read(path: CLI.fixture("quant/imatrix/llava.imatrix.gguf"), for: checkpoint)
        #expect(matrix.datasets == ["seeded features"] && matrix.chunkCount == 1 && matrix.chunkSize == 64)
        let expected = (0 ..< 256).map { Float($0 % 17 + 1) / 4 }
        #expect(matrix.vectors == [Self.prefix + "linear_1.weight": expected, Self.prefix + "linear_2.weight": expected])
    }

    /// Files that are not an importance matrix for this checkpoint: refused, naming the entry.
    @Test(arguments: ["bad-no-counts.gguf", "bad-length.gguf", "bad-negative.gguf", "bad-unknown.gguf"])
    func badFilesAreRefused(_ name: String) throws {
        let scratch = try Scratch()
        let (checkpoint, _, _) = try ConnectorCase.llava(in: scratch).open()
        #expect {
            _ = try ImportanceMatrix.read(path: CLI.fixture("quant/imatrix/" + name), for: checkpoint)
        } throws: { error in
            guard let error = error as? OutputQuantizationError, case .importanceFile(let message) = error.kind else { return false }
            return error.failure == .unusableInput && message.contains("linear_")
        }
    }

    /// The types ggml weights get the vector end to end: each written tensor is, byte for byte,
    /// `GGMLBlocks.quantize` of its values given `in_sum2 / count` from the file (that kernel is bit-exact
    /// with `ggml_quantize_chunk` given an imatrix: QuantizationTests), and differs from the unweighted one.
    @Test(arguments: ["q4_k", "q6_k", "q4_0", "q5_1"])
    func weightedTypesGetTheVector(_ type: String) throws {
        let scratch = try Scratch()
        let connectorCase = try ConnectorCase.llava(in: scratch)
        let quantization = try QuantizationType(parsing: type)
        guard case .ggml(let dtype) = quantization else { throw CaseError("\(type) is not a ggml type") }
        var request = OutputQuantizeRequest(quantize: QuantizeRequest(type: quantization))
        request.importance = .file(CLI.fixture("quant/imatrix/llava.imatrix.gguf"))
        let report = try connectorCase.quantize(request, to: scratch.file("weighted.gguf"))
        #expect(report.importance?.tensors.count == 2)
        _ = try connectorCase.quantize(OutputQuantizeRequest(quantize: QuantizeRequest(type: quantization)), to: scratch.file("plain.gguf"))
        let weighted = try Self.tensorBytes(scratch.file("weighted.gguf")), plain = try Self.tensorBytes(scratch.file("plain.gguf"))
        let (checkpoint, _, _) = try connectorCase.open()
        let vector = (0 ..< 256).map { Float($0 % 17 + 1) / 4 }
        for name in ["linear_1.weight", "linear_2.weight"].map({ Self.prefix + $0 }) {
            let tensor = try #require(checkpoint.tensor(named: name))
            var values = [Float](repeating: 0, count: tensor.info.elementCount)
            try values.withUnsafeMutableBufferPointer { try tensor.readFloats(into: $0) }
            var expected = [UInt8](repeating: 0, count: values.count / dtype.layout.blockElements * dtype.layout.blockBytes)
            try values.withUnsafeBufferPointer { values in
                try expected.withUnsafeMutableBytes {
                    try GGMLBlocks.quantize(values, rowLength: 256, as: dtype, importance: vector, into: $0, threads: 1, kernel: .reference)
                }
            }
            #expect(weighted[name] == expected, "\(name)")
            #expect(plain[name] != expected, "\(name): the vector changed nothing")
        }
    }

    /// MLX types take no importance vector: a usage error before any work, nothing written.
    @Test func mlxTypesAreRefused() throws {
        let scratch = try Scratch()
        let connectorCase = try ConnectorCase.llava(in: scratch)
        var request = OutputQuantizeRequest(quantize: QuantizeRequest(type: .mlx(bits: 4)))
        request.importance = .collect
        let path = scratch.file("out.safetensors")
        #expect {
            _ = try connectorCase.quantize(request, to: path)
        } throws: { error in
            guard let error = error as? OutputQuantizationError, case .usage = error.kind else { return false }
            return error.failure == .usage
        }
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    /// The bytes of every tensor of a file, by name.
    static func tensorBytes(_ path: String) throws -> [String: [UInt8]] {
        let file = try CheckpointReader.open(path)
        var bytes: [String: [UInt8]] = [:]
        for tensor in file.tensors { bytes[tensor.name] = try tensor.withBytes { Array($0) } }
        return bytes
    }
}
