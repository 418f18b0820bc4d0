import Foundation
import Testing
@testable import TensorFormats

/// Tensor names and shard file names are separate name spaces in an index's weight_map.
struct ShardedIndexNameTests {
    /// A one-tensor safetensors file holding the f32 value `value` under `name`.
    static func shard(_ name: String, value: Float) -> [UInt8] {
        var header = Array("{\"\(name)\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}".utf8)
        while header.count % 8 != 0 { header.append(UInt8(ascii: " ")) }
        var bytes: [UInt8] = []
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { bytes += $0 }
        bytes += header
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 }
        return bytes
    }

    /// A tensor named like a shard file (`b.safetensors`, stored in a.safetensors) next to the tensor
    /// that shard b.safetensors holds: both orders of the weight_map read, each tensor from its shard.
    @Test(arguments: [
        #"{"weight_map": {"b.safetensors": "a.safetensors", "t": "b.safetensors"}}"#,
        #"{"weight_map": {"t": "b.safetensors", "b.safetensors": "a.safetensors"}}"#,
    ])
    func tensorNamedLikeAShard(index: String) throws {
        let directory = try TemporaryDirectory()
        try Data(Self.shard("b.safetensors", value: 1)).write(to: URL(fileURLWithPath: directory.file("a.safetensors")))
        try Data(Self.shard("t", value: 2)).write(to: URL(fileURLWithPath: directory.file("b.safetensors")))
        try Data(index.utf8).write(to: URL(fileURLWithPath: directory.file("model.safetensors.index.json")))

        let checkpoint = try CheckpointReader.open(directory.file("model.safetensors.index.json"))
        #expect(checkpoint.shards == ["a.safetensors", "b.safetensors"])
        #expect(checkpoint.tensors.map(\.name) == ["b.safetensors", "t"])
        #expect(checkpoint.tensors.map(\.file) == ["a.safetensors", "b.safetensors"])
        let values = try checkpoint.tensors.map { tensor in try tensor.withBytes { Array($0.bindMemory(to: Float.self)) } }
        #expect(values == [[1], [2]])
    }
}
