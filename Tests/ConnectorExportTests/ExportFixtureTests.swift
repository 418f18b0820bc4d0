import ConnkitTestSupport
import Foundation
import Testing
import TensorFormats

/// One export of Tests/Fixtures/onnx-export/manifest.json: the `connkit export` arguments generate.py ran,
/// the SHA-256 of the model (and data file) it wrote, which onnx's full checker passed and onnxruntime's
/// CPU provider ran, and the outputs onnxruntime computed.
struct ExportCase: CustomStringConvertible, Sendable {
    struct Run: Sendable {
        let features: String
        /// The features concatenated this many times along the tokens (a dynamic model at another count).
        let repeatCount: Int
        let output: String
    }

    let name: String
    let dtype: String
    let arguments: [String]
    let modelSHA256: String
    let dataSHA256: String?
    let runArguments: [String]
    let runs: [Run]

    var description: String { name }

    static let directory = CLI.fixture("onnx-export")

    static let all: [ExportCase] = {
        let data = try! Data(contentsOf: URL(fileURLWithPath: directory + "/manifest.json"))
        let manifest = try! data.withUnsafeBytes { try JSONValue.parse($0) }
        return manifest["exports"]!.arrayValue!.map { entry in
            ExportCase(
                name: entry["case"]!.stringValue! + "/" + entry["name"]!.stringValue!, dtype: entry["dtype"]!.stringValue!,
                arguments: entry["arguments"]!.arrayValue!.compactMap(\.stringValue), modelSHA256: entry["model_sha256"]!.stringValue!,
                dataSHA256: entry["data_sha256"]?.stringValue, runArguments: entry["run_arguments"]!.arrayValue!.compactMap(\.stringValue),
                runs: entry["runs"]!.arrayValue!.map { run in
                    Run(features: run["features"]!.stringValue!, repeatCount: run["repeat"]!.intValue!,
                        output: directory + "/" + run["output"]!.stringValue!)
                })
        }
    }()
}

/// Every export the generator checked with onnx and ran with onnxruntime: connkit writes the same bytes
/// today (deterministic, and the model onnxruntime ran), and onnxruntime's outputs agree with `connkit run`
/// on the same features within the bounds.
@Suite struct ExportFixtureTests {
    static func floats(_ path: String) throws -> (shape: [Int], values: [Float]) {
        let tensor = try CheckpointReader.open(path).tensors[0]
        return (tensor.shape, try tensor.floats())
    }

    static func sha256(_ path: String) throws -> String {
        try MappedFile(path: path).withBytes { SHA256.hex(Array($0)) }
    }

    @Test func theManifestCoversEveryFixtureCase() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: CLI.fixture("runtime/manifest.json")))
        let runtime = try data.withUnsafeBytes { try JSONValue.parse($0) }
        let cases = Set(runtime["cases"]!.arrayValue!.compactMap { $0["name"]?.stringValue })
        let exported = Set(ExportCase.all.map { String($0.name.split(separator: "/")[0]) })
        #expect(cases == exported)
        #expect(Set(ExportCase.all.map(\.dtype)) == ["f32", "f16"])
        #expect(ExportCase.all.contains { $0.dataSHA256 != nil })
    }

    @Test(arguments: ExportCase.all)
    func exportIsWhatOnnxruntimeRanAndAgreesWithRun(_ export: ExportCase) throws {
        let scratch = try Scratch()
        let model = scratch.file("model.onnx")
        let result = try CLI.run(export.arguments + ["-o", model, "--quiet"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try Self.sha256(model) == export.modelSHA256, "the export's bytes changed: run Tests/Fixtures/onnx-export/generate.py")
        if let data = export.dataSHA256 { #expect(try Self.sha256(model + ".data") == data) }
        for run in export.runs {
            var features = run.features
            if run.repeatCount > 1 {
                let (shape, values) = try Self.floats(CLI.repositoryRoot + "/" + run.features)
                let batch = shape.count == 3 ? shape[0] : 1, tokens = shape[shape.count - 2], width = shape[shape.count - 1]
                var repeated: [Float] = []
                for image in 0 ..< batch {
                    let slice = values[(image * tokens * width) ..< ((image + 1) * tokens * width)]
                    for _ in 0 ..< run.repeatCount { repeated += slice }
                }
                features = scratch.file("features.npy")
                let info = try TensorInfo(name: "features", dtype: .f32, shape: [batch, tokens * run.repeatCount, width])
                try CheckpointWriter(path: features).write([OutputTensor(info: info) { output in try repeated.withUnsafeBytes { try output.write($0) } }],
                                                           metadata: [])
            }
            let out = scratch.file("run.npy")
            let ran = try CLI.run(["run"] + export.runArguments + ["--input", features, "--output", out, "--quiet"])
            #expect(ran.status == 0, "\(ran.stderr)")
            let reference = try Self.floats(out)
            let onnxruntime = try Self.floats(run.output)
            #expect(onnxruntime.shape.suffix(2) == reference.shape.suffix(2))
            let width = reference.shape.last!
            let (cosine, delta, maxReference) = closeness(onnxruntime.values, reference.values.map(Double.init), width: width)
            if export.dtype == "f32" {
                #expect(cosine >= 0.99999 && delta <= 1e-4 * maxReference, "cosine \(cosine), max |Δ| \(delta) of \(maxReference)")
            } else {
                #expect(cosine >= 0.999, "cosine \(cosine)")
            }
        }
    }
}
