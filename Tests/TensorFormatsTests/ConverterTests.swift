import CConnkit
import Foundation
import Testing
@testable import TensorFormats

/// The conversion engine: selection, casts, lossless checks and atomic outputs.
struct ConverterTests {
    private func convert(_ input: String, _ output: String, _ configure: (inout ConversionOptions) -> Void = { _ in })
        throws -> ConversionSummary {
        var options = ConversionOptions()
        configure(&options)
        return try Converter.convert(try CheckpointReader.open(input), to: output, options: options)
    }

    private func floats(_ tensor: Tensor) throws -> [Float] {
        try tensor.withBytes { raw in
            var out = [Float](repeating: 0, count: tensor.info.elementCount)
            Cast.toFloat32(raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, tensor.dtype, count: out.count, into: &out)
            return out
        }
    }

    @Test func losslessRoundTripKeepsEveryByte() throws {
        let directory = try TemporaryDirectory()
        let source = Fixtures.path("safetensors/dtypes.safetensors")
        let out = directory.file("copy.safetensors")
        let summary = try convert(source, out)
        #expect(summary.tensors.allSatisfy { $0.from == $0.to })
        let a = try CheckpointReader.open(source), b = try CheckpointReader.open(out)
        #expect(a.tensors.map(\.info) == b.tensors.map(\.info))
        for (x, y) in zip(a.tensors, b.tensors) { #expect(try bytes(of: x) == bytes(of: y)) }
        #expect(a.metadata == b.metadata)
    }

    @Test(arguments: [DTypeChoice.f16, .bf16, .f32])
    func castsEveryFloatTensorAndLeavesIntegersAlone(choice: DTypeChoice) throws {
        let directory = try TemporaryDirectory()
        let source = Fixtures.path("safetensors/dtypes.safetensors")
        let out = directory.file("cast.safetensors")
        _ = try convert(source, out) { $0.dtype = choice }
        let a = try CheckpointReader.open(source), b = try CheckpointReader.open(out)
        #expect(a.tensors.count == b.tensors.count)
        for x in a.tensors {
            let y = try #require(b.tensor(named: x.name))
            #expect(x.shape == y.shape)
            if x.dtype.kind == .float || (x.dtype.kind == .microFloat && Cast.decodesToFloat32(x.dtype)) {
                #expect(y.dtype == choice.target)
                // The cast equals the reference cast of the exactly widened value (f64 rounds once).
                let wide = try floats(x)
                var expected = [UInt8](repeating: 0, count: y.info.byteCount)
                if x.dtype == .f64, choice == .f16 {
                    let odd = try x.withBytes { raw in raw.bindMemory(to: Double.self).map(Cast.float32RoundedToOdd) }
                    odd.withUnsafeBufferPointer { Cast.fromFloat32($0.baseAddress!, count: odd.count, to: .f16, into: &expected) }
                } else {
                    wide.withUnsafeBufferPointer { Cast.fromFloat32($0.baseAddress!, count: wide.count, to: choice.target!, into: &expected) }
                }
                let got = try bytes(of: y)
                let narrowed = try floats(y)
                let sameOrNaN = got == expected || zip(narrowed, wide).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }
                #expect(sameOrNaN, "\(x.name) \(x.dtype)->\(choice)")
            } else {
                #expect(y.dtype == x.dtype, "\(x.name) must not be cast")
                #expect(try bytes(of: x) == bytes(of: y))
            }
        }
    }

    @Test func f16OverflowIsReportedWithTheTensorAndItsMagnitude() throws {
        let directory = try TemporaryDirectory()
        let source = directory.file("big.safetensors")
        let output = try OutputFile(path: source, overwrite: false)
        let values: [Float] = [1, -100000, 3]
        try SafetensorsWriter.write(tensors: [OutputTensor(info: try TensorInfo(name: "big", dtype: .f32, shape: [3])) { file in
            try values.withUnsafeBytes { try file.write($0) }
        }], metadata: [], to: output)
        try output.commit()
        let summary = try convert(source, directory.file("half.safetensors")) { $0.dtype = .f16 }
        #expect(summary.warnings.count == 1)
        #expect(summary.warnings.first?.contains("'big'") == true)
        #expect(summary.warnings.first?.contains("100000") == true)
        let half = try CheckpointReader.open(directory.file("half.safetensors"))
        #expect(try floats(half.tensors[0]) == [1, -.infinity, 3])
    }

    @Test func selectionWithGlobsCrossingDots() throws {
        let directory = try TemporaryDirectory()
        let out = directory.file("sel.safetensors")
        let summary = try convert(Fixtures.path("safetensors/numpy_writer.safetensors"), out) {
            $0.selection = TensorSelection(only: [Glob("model.*.weight")], exclude: [Glob("*.2.*")])
        }
        #expect(summary.tensors.map(\.name) == ["model.mm_projector.0.weight"])
    }

    @Test func blockTypesAndMissingTargetsAreRefusedByName() throws {
        let directory = try TemporaryDirectory()
        // numpy holds no bf16: refused, naming the tensor and suggesting --dtype.
        let error = formatError { _ = try convert(Fixtures.path("safetensors/dtypes.safetensors"), directory.file("x.npz")) }
        #expect(error?.kind.caseName == "unconvertible")
        if case .tensor(let name) = error?.location { #expect(name.hasPrefix("t")) } else { Issue.record("no tensor named") }
        #expect(!FileManager.default.fileExists(atPath: directory.file("x.npz")))
    }

    @Test func outputsAreAtomicAndNeverOverwriteInputs() throws {
        let directory = try TemporaryDirectory()
        let source = Fixtures.path("safetensors/numpy_writer.safetensors")
        let out = directory.file("o.safetensors")
        _ = try convert(source, out)
        // An existing output is kept unless overwriting is asked for.
        let before = try Data(contentsOf: URL(fileURLWithPath: out))
        let exists = formatError { _ = try convert(source, out) { $0.dtype = .f32 } }
        #expect(exists?.kind.caseName == "refused")
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == before)
        _ = try convert(source, out) { $0.dtype = .f32; $0.overwrite = true }
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) != before)
        // The input itself is refused even with overwrite.
        let same = formatError { _ = try convert(out, out) { $0.overwrite = true } }
        #expect(same?.kind.caseName == "refused")
        // A failure in the middle leaves neither the output nor a temporary file.
        let failing = directory.file("fail.safetensors")
        let output = try OutputFile(path: failing, overwrite: false)
        try output.write([1, 2, 3])
        output.abandon()
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() == ["o.safetensors"])
    }

    @Test func shardedInputConvertsLikeOneFile() throws {
        let directory = try TemporaryDirectory()
        let out = directory.file("merged.safetensors")
        _ = try convert(Fixtures.path("safetensors/sharded"), out)
        let merged = try CheckpointReader.open(out)
        #expect(merged.tensors.map(\.name) == ["a.bias", "a.weight", "b.weight"])
        #expect(merged.metadata["total_size"] == .string("112"))
    }

    @Test func producerWritingTheWrongLengthIsCaught() throws {
        let directory = try TemporaryDirectory()
        let output = try OutputFile(path: directory.file("bad.safetensors"), overwrite: false)
        let lying = OutputTensor(info: try TensorInfo(name: "x", dtype: .f32, shape: [2])) { try $0.write([0, 0, 0, 0]) }
        let error = formatError { try SafetensorsWriter.write(tensors: [lying], metadata: [], to: output) }
        #expect(error?.kind == .sizeMismatch(expected: 8, found: 4))
        output.abandon()
    }
}
