import Testing
import TensorFormats
@testable import ConnectorGraph
#if canImport(Glibc)
import Glibc
#endif

/// Value checks on scaled-down copies of real layouts (real names, small dimensions, real values).
@Suite struct ValueCheckTests {
    /// LLaVA-1.5 names at 16 → 32 wide, values from `value(name, i)`.
    func llava(dtype: DType = .f32, _ value: (String, Int) -> Float = { _, i in Float((i % 13) + 1) * 0.01 }) -> Checkpoint {
        let layout: [(String, [Int])] = [("model.mm_projector.0.weight", [32, 16]), ("model.mm_projector.0.bias", [32]),
                                         ("model.mm_projector.2.weight", [32, 32]), ("model.mm_projector.2.bias", [32])]
        let tensors = layout.map { name, shape in memoryTensor(name, shape, dtype: dtype) { value(name, $0) } }
        return Checkpoint(path: "memory", format: .safetensors, metadata: [], tensors: tensors)
    }

    func validate(_ checkpoint: Checkpoint) -> ValidationReport {
        Validator.validate(ValidationRequest(checkpoint: checkpoint))
    }

    func codes(_ report: ValidationReport) -> [String: [String]] {
        var result: [String: [String]] = [:]
        for diagnostic in report.diagnostics { result[diagnostic.code.rawValue, default: []].append(diagnostic.tensor ?? "-") }
        return result
    }

    @Test func healthyWeightsPass() {
        let report = validate(llava())
        // Only the note that feature_layers = 1 was assumed (no config says how many encoder layers feed it).
        #expect(report.valid && report.diagnostics.map(\.code) == [.assumedDefault], "\(report.text)")
    }

    @Test func nanAndInfinityAreErrors() {
        let report = validate(llava { name, i in
            if name == "model.mm_projector.2.weight" && i == 17 { return .nan }
            if name == "model.mm_projector.0.bias" && i == 3 { return -.infinity }
            return 0.01
        })
        #expect(!report.valid)
        #expect(codes(report)["non-finite"]?.sorted() == ["model.mm_projector.0.bias", "model.mm_projector.2.weight"])
    }

    @Test func nanInHalfPrecision() {
        for dtype in [DType.f16, .bf16] {
            let report = validate(llava(dtype: dtype) { name, i in name == "model.mm_projector.0.weight" && i == 5 ? .nan : 0.02 })
            #expect(codes(report)["non-finite"] == ["model.mm_projector.0.weight"], "\(dtype)")
        }
    }

    @Test func untrainedWeightsAreWarnings() {
        let report = validate(llava { name, i in
            switch name {
            case "model.mm_projector.0.weight": return 0
            case "model.mm_projector.2.weight": return 0.5
            default: return Float(i) * 0.001
            }
        })
        #expect(report.valid)
        #expect(codes(report)["all-zero"] == ["model.mm_projector.0.weight"])
        #expect(codes(report)["constant"] == ["model.mm_projector.2.weight"])
    }

    @Test func bf16BeyondF16Range() {
        let report = validate(llava(dtype: .bf16) { name, i in name == "model.mm_projector.2.weight" && i == 40 ? 70000 : 0.01 })
        #expect(report.valid)
        #expect(codes(report)["f16-overflow-risk"] == ["model.mm_projector.2.weight"])
        // The same magnitude in f16 is already infinite: an error, not a risk.
        let f16 = validate(llava(dtype: .f16) { name, i in name == "model.mm_projector.2.weight" && i == 40 ? 70000 : 0.01 })
        #expect(codes(f16)["non-finite"] == ["model.mm_projector.2.weight"])
    }

    @Test func zeroGatesOfAFlamingoBlock() throws {
        // OpenFlamingo layout at tiny width: perceiver with one layer, one gated block (interval 1 of 1 layer).
        let fixture = try MetaFixture("openflamingo-3b-vitl-mpt1b__open_flamingo.json")
        let scale: (Int) -> Int = { $0 == 1024 ? 16 : $0 == 2048 ? 24 : $0 == 4096 ? 64 : $0 == 8192 ? 96 : $0 == 512 ? 8 : $0 == 64 ? 4 : $0 == 1 ? 1 : $0 }
        let layout = fixture.tensors.filter { name, _ in
            !name.contains(".layers.") || name.contains(".layers.0.")
        }.filter { name, _ in
            !name.hasPrefix("lang_encoder.gated_cross_attn_layers.") || name.hasPrefix("lang_encoder.gated_cross_attn_layers.0.")
        }
        let tensors = layout.map { name, shape in
            memoryTensor(name, shape.map(scale)) { i in name.hasSuffix("attn_gate") ? 0 : Float((i % 5) + 1) * 0.01 }
        }
        let checkpoint = Checkpoint(path: "memory", format: .safetensors, metadata: [], tensors: tensors)
        let report = Validator.validate(ValidationRequest(checkpoint: checkpoint, flagClaims: [
            DimensionClaim(key: "heads", value: 2, source: .flag("--dim heads=2"))]))
        #expect(report.family == "perceiver-resampler", "\(report.text)")
        #expect(codes(report)["zero-gate"] == ["lang_encoder.gated_cross_attn_layers.0.attn_gate"], "\(report.text)")
        #expect(codes(report)["non-finite"] == nil)
    }

    @Test func blockQuantizedValuesAreSkipped() throws {
        var tensors = llava().tensors
        let info = try TensorInfo(name: "model.mm_projector.2.weight", dtype: .q8_0, shape: [32, 32])
        tensors[2] = Tensor(info: info, data: MemoryData(bytes: [UInt8](repeating: 0, count: info.byteCount)))
        let report = validate(Checkpoint(path: "memory", format: .gguf, metadata: [], tensors: tensors))
        #expect(report.valid)
        #expect(codes(report)["values-skipped"] == ["model.mm_projector.2.weight"])
    }

    /// A tensor larger than one chunk is split across workers; statistics merge exactly.
    @Test func chunkedScanOfAMappedTensor() throws {
        let directory = temporaryDirectory()
        let path = directory + "/big.bin"
        let elements = ValueScanner.chunkElements * 2 + 1000
        let fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0o644)
        #expect(ftruncate(fd, off_t(elements * 4)) == 0)
        // Holes read as zeros; put a NaN in the second chunk and a large value in the third.
        var nan = Float.nan, large = Float(123456)
        _ = pwrite(fd, &nan, 4, off_t((ValueScanner.chunkElements + 7) * 4))
        _ = pwrite(fd, &large, 4, off_t((elements - 3) * 4))
        close(fd)
        let file = try MappedFile(path: path)
        let info = try TensorInfo(name: "big", dtype: .f32, shape: [elements])
        let stats = try ValueScanner.scan([Tensor(info: info, data: MappedTensorData(file: file, offset: 0, count: info.byteCount))])
        let stat = try #require(stats[0])
        #expect(stat.elements == elements)
        #expect(stat.nan == 1)
        #expect(stat.zeros == elements - 2)
        #expect(stat.maxAbs == 123456)
        #expect(!stat.constant)
    }
}
