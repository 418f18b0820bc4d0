import Foundation
import Testing
import TensorFormats
@testable import ConnectorGraph

/// The layout changes move bytes exactly: transposes element by element for every element size, row
/// ranges and joins of block-quantized rows, and refusals where a layout would cut a block.
@Suite struct ByteMoveTests {
    @Test(arguments: [(DType.u8, 3, 5), (.f16, 33, 70), (.bf16, 64, 1), (.f32, 1, 9), (.f64, 40, 33)])
    func transposeMatchesTheDefinition(_ dtype: DType, _ rows: Int, _ columns: Int) throws {
        let source = memoryTensor("w", dtype, [rows, columns], seed: UInt64(rows * columns))
        let size = try #require(dtype.elementSize)
        let transposed = TransposedData(source: source, rows: rows, columns: columns, elementBytes: size)
        let input = try bytes(of: source)
        let output = try transposed.withBytes { Array($0) }
        var expected = [UInt8](repeating: 0, count: input.count)
        for i in 0 ..< rows {
            for j in 0 ..< columns {
                for b in 0 ..< size { expected[(j * rows + i) * size + b] = input[(i * columns + j) * size + b] }
            }
        }
        #expect(output == expected)
    }

    @Test func rowRangesOfAMappedTensorStayInTheFile() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let tensor = memoryTensor("qkv", .q4_0, [6, 64], seed: 7)
        let gguf = directory + "/t.gguf"
        let output = try OutputFile(path: gguf, overwrite: true)
        try GGUFWriter.write(tensors: [OutputTensor(copying: tensor)], metadata: [], to: output)
        try output.commit()
        let stored = try #require(try CheckpointReader.open(gguf).tensors.first)
        let rowBytes = stored.info.byteCount / 6
        let range = RowRangeData(source: stored.data, offset: 2 * rowBytes, count: 2 * rowBytes)
        let region = try #require(range.fileRegion)
        #expect(region.offset == stored.data.fileRegion!.offset + 2 * rowBytes && region.count == 2 * rowBytes)
        #expect(try range.withBytes { Array($0) } == Array(try bytes(of: tensor)[2 * rowBytes ..< 4 * rowBytes]))
        let joined = ConcatenatedData(parts: [stored, stored], count: 2 * stored.info.byteCount)
        #expect(try joined.withBytes { Array($0) } == (try bytes(of: tensor)) + (try bytes(of: tensor)))
    }
}

/// Scheme conversion of hand-made connectors: fused ↔ split block-quantized projections are exact, a
/// transpose of a block type is refused unless a decoder is given, an unsqueeze that cuts blocks is refused.
@Suite struct SchemeConversionTests {
    /// A MiniCPM-V resampler (E = 64, D_enc = 32, Q = 4) in its repository names, `in_proj_weight` and
    /// `proj` of `dtype`.
    func resampler(_ dtype: DType) throws -> BoundConnector {
        let e = 64
        var tensors = [memoryTensor("resampler.query", .f32, [4, e], seed: 1), memoryTensor("resampler.kv_proj.weight", .f32, [e, 32], seed: 2),
                       memoryTensor("resampler.attn.in_proj_weight", dtype, [3 * e, e], seed: 3),
                       memoryTensor("resampler.attn.in_proj_bias", .f32, [3 * e], seed: 4),
                       memoryTensor("resampler.attn.out_proj.weight", .f32, [e, e], seed: 5),
                       memoryTensor("resampler.attn.out_proj.bias", .f32, [e], seed: 6),
                       memoryTensor("resampler.proj", dtype, [e, e], seed: 7)]
        for (index, name) in ["ln_q", "ln_kv", "ln_post"].enumerated() {
            tensors += [memoryTensor("resampler.\(name).weight", .f32, [e], seed: UInt64(10 + index)),
                        memoryTensor("resampler.\(name).bias", .f32, [e], seed: UInt64(20 + index))]
        }
        let checkpoint = Checkpoint(path: "resampler.safetensors", format: .safetensors, metadata: [], tensors: tensors)
        let report = bind(checkpoint, claims: [DimensionClaim(key: "head_dim", value: 16, source: .flag("--dim head_dim=16"))])
        #expect(report.valid, "\(report.diagnostics.map(\.line))")
        return try #require(report.connector)
    }

    @Test func fusedBlockQuantizedProjectionSplitsExactly() throws {
        let connector = try resampler(.q8_0)
        #expect(throws: SchemeConversionError.transposeOfBlocks(tensor: "resampler.proj", dtype: .q8_0)) {
            try SchemeConversion(connector, to: "mmproj")
        }
        let decoded = try SchemeConversion(connector, to: "mmproj", decodeBlocks: true)
        let fused = try bytes(of: try #require(connector.parameter(role: "attn.qkv.weight")?.tensors.first))
        let parts = try #require(decoded.parameters.first { $0.role == "attn.qkv.weight" })
        #expect(parts.tensors.map(\.name) == ["resampler.attn.q.weight", "resampler.attn.k.weight", "resampler.attn.v.weight"])
        #expect(parts.tensors.allSatisfy { $0.dtype == .q8_0 && $0.shape == [64, 64] })
        #expect(try parts.tensors.flatMap { try bytes(of: $0) } == fused)
        // proj: decoded (gguf-py's values, the float reader's) and transposed to [out, in].
        let proj = try #require(decoded.parameters.first { $0.role == "proj.weight" }?.tensors.first)
        #expect(proj.dtype == .f32 && proj.name == "resampler.proj.weight")
        let stored = try #require(connector.parameter(role: "proj.weight")?.tensors.first).floats().map(\.bitPattern)
        let written = try proj.floats().map(\.bitPattern)
        let transposed: [UInt32] = (0 ..< 64 * 64).map { (index: Int) -> UInt32 in stored[(index % 64) * 64 + index / 64] }
        #expect(written == transposed)
    }

    @Test func unknownSchemeAndRolesTheTargetCannotHold() throws {
        let connector = try resampler(.f16)
        #expect(throws: SchemeConversionError.unknownScheme(scheme: "hf", family: "attention-resampler", variant: connector.variant,
                                                            known: ["minicpmv", "mmproj"])) {
            try SchemeConversion(connector, to: "hf")
        }
    }

    /// A parameter whose role the target scheme declares absent (and the graph cannot compute) is refused,
    /// naming the schemes that hold it.
    @Test func aRoleTheTargetCannotHold() throws {
        var connector = try resampler(.f16)
        connector.graph.schemes = connector.graph.schemes.map { scheme in
            var scheme = scheme
            if scheme.name == "mmproj" { scheme.absent.append("ln_post.weight") }
            return scheme
        }
        #expect(throws: SchemeConversionError.roleNotHeld(role: "ln_post.weight", scheme: "mmproj", holders: ["minicpmv"])) {
            try SchemeConversion(connector, to: "mmproj")
        }
    }

    @Test func unsqueezeThatCutsBlocksIsRefused() throws {
        // An LDP squeeze-excitation fc1 stored squeezed as q8_0 [16, 64] cannot become [16, 64, 1, 1].
        var parameter = BoundParameter(role: "mb_block.1.se.fc1.weight", roleTemplate: "mb_block.1.se.fc1.weight", indices: [:], node: "mb_block.1.se",
                                       slot: "fc1.weight", shape: [16, 64, 1, 1], layout: .squeezed,
                                       tensors: [memoryTensor("mm.model.mb_block.1.block.1.fc1.weight", .q8_0, [16, 64], seed: 3)])
        parameter.layout = .squeezed
        let graph = LDPFamily.ldp
        let connector = BoundConnector(family: "ldp", variant: "ldp", scheme: "mmproj", prefix: "mm.", graph: graph, dimensions: [], parameters: [parameter])
        #expect(throws: SchemeConversionError.layoutUnfit(role: "mb_block.1.se.fc1.weight", dtype: .q8_0)) {
            try SchemeConversion(connector, to: "mobilevlm")
        }
    }
}
