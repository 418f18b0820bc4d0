// libFuzzer entry for the user-written inputs of `validate`/`describe`: connector graph descriptions
// (JSON → Codable → structural verification) and config.json interpretation. Built by
// Tests/Fuzz/build.sh Graph; run it with a graph corpus:
//   Tests/Fuzz/bin/GraphFuzz -max_total_time=600 Tests/Fuzz/corpus-Graph examples/graphs Tests/Fixtures/graph/configs-hub
// fuzz-modules: ConnectorGraph
import ConnectorGraph
import TensorFormats

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    guard let value = try? JSONValue.parse(bytes) else { return 0 }
    let text = value.serialized()
    if let graph = try? ConnectorGraph.parse(json: text) {
        // An accepted graph must describe and round-trip without trapping.
        _ = try? graph.jsonText()
        _ = Describer.describe(FamilyVariant.custom(graph), claims: [])
        let checkpoint = Checkpoint(path: "fuzz", format: .safetensors, metadata: [], tensors: [])
        _ = Validator.validate(ValidationRequest(checkpoint: checkpoint, graph: graph, checkValues: false))
    }
    _ = ConfigReader.interpret(value, file: "config.json")
    return 0
}
