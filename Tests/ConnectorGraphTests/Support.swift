import CConnkit
import ConnkitTestSupport
import ConnkitCLI
import Foundation
import Testing
import TensorFormats
@testable import ConnectorGraph
#if canImport(Glibc)
import Glibc
#endif

let repositoryRoot = CLI.repositoryRoot

/// Tests/Fixtures/graph.
let graphFixtures = CLI.fixture("graph")

func loadSchema(_ name: String) throws -> JSONSchema { try CLI.schema(name) }

/// One directory per test process under the system temporary directory; starting a run removes what
/// finished runs left (tests keep their files mapped until the process ends, so they cannot clean up
/// after themselves). Runs in other checkouts at the same time keep their own directories.
private let runDirectory: String = {
    let prefix = "connkit-graph-tests-"
    let temporary = NSTemporaryDirectory()
    for name in (try? FileManager.default.contentsOfDirectory(atPath: temporary)) ?? [] where name.hasPrefix(prefix) {
        if let pid = Int32(name.dropFirst(prefix.count)), kill(pid, 0) != 0, errno == ESRCH {
            try? FileManager.default.removeItem(atPath: temporary + name)
        }
    }
    let base = temporary + prefix + String(getpid())
    try? FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
    return base
}()

/// A fresh temporary directory for one test.
func temporaryDirectory() -> String {
    var template = Array((runDirectory + "/test-XXXXXX").utf8CString)
    let path = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    return String(cString: path!)
}

/// Tensor data held in memory (small test tensors with real values).
struct MemoryData: TensorData {
    let bytes: [UInt8]
    var fileRegion: FileRegion? { nil }
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R { try bytes.withUnsafeBytes(body) }
}

func f32Bytes(_ values: [Float]) -> [UInt8] {
    values.withUnsafeBytes { Array($0) }
}

/// An in-memory f32 tensor whose element `i` is `value(i)`.
func memoryTensor(_ name: String, _ shape: [Int], dtype: DType = .f32, _ value: (Int) -> Float = { Float(($0 % 7) + 1) * 0.01 }) -> Tensor {
    let info = try! TensorInfo(name: name, dtype: dtype, shape: shape)
    let values = (0 ..< info.elementCount).map(value)
    var bytes: [UInt8]
    switch dtype {
    case .f32: bytes = f32Bytes(values)
    case .f16:
        var halves = [UInt16](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { source in halves.withUnsafeMutableBufferPointer { ck_f32_to_f16(source.baseAddress!, $0.baseAddress!, values.count) } }
        bytes = halves.withUnsafeBytes { Array($0) }
    case .bf16:
        var halves = [UInt16](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { source in halves.withUnsafeMutableBufferPointer { ck_f32_to_bf16(source.baseAddress!, $0.baseAddress!, values.count) } }
        bytes = halves.withUnsafeBytes { Array($0) }
    default:
        bytes = [UInt8](repeating: 0, count: info.byteCount)
    }
    return Tensor(info: info, data: MemoryData(bytes: bytes))
}

/// Shape-only tensors of real (large) dimensions, backed by a sparse file: `ftruncate` makes a file of
/// the total size without writing it, so a 7B-parameter layout costs nothing on disk or in time.
func sparseCheckpoint(_ layout: [(String, [Int])], dtype: DType = .f16, format: FileFormat = .safetensors,
                      metadata: [MetadataEntry] = [], directory: String) throws -> Checkpoint {
    var infos: [TensorInfo] = []
    var total = 0
    for (name, shape) in layout {
        let info = try TensorInfo(name: name, dtype: dtype, shape: shape)
        infos.append(info)
        total += info.byteCount
    }
    let path = directory + "/sparse.bin"
    let fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0o644)
    precondition(fd >= 0)
    precondition(ftruncate(fd, off_t(max(total, 1))) == 0)
    close(fd)
    let file = try MappedFile(path: path)
    var offset = 0
    var tensors: [Tensor] = []
    for info in infos {
        tensors.append(Tensor(info: info, data: MappedTensorData(file: file, offset: offset, count: info.byteCount)))
        offset += info.byteCount
    }
    return Checkpoint(path: path, format: format, metadata: metadata, tensors: tensors)
}

/// A fixture written by Tests/Fixtures/graph/dump_meta_models.py.
struct MetaFixture {
    var file: String
    var release: String
    var scheme: String
    var format: FileFormat
    var expectFamily: String
    var expectVariant: String
    var expectDims: [String: Int]
    /// Warning codes the release is known to deserve (Yi-VL mmproj files lack clip.projector_type).
    var expectWarnings: [String]
    var metadata: [MetadataEntry]
    var tensors: [(String, [Int])]

    static let all: [String] = {
        let dir = graphFixtures + "/meta"
        guard let handle = opendir(dir) else { return [] }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) } }
            if name.hasSuffix(".json") { names.append(name) }
        }
        return names.sorted()
    }()

    init(_ file: String) throws {
        self.file = file
        let mapped = try MappedFile(path: graphFixtures + "/meta/" + file)
        let json = try mapped.withBytes { try JSONValue.parse($0) }
        release = json["release"]!.stringValue!
        scheme = json["scheme"]!.stringValue!
        format = json["format"]!.stringValue == "gguf" ? .gguf : .safetensors
        let expect = json["expect"]!
        expectFamily = expect["family"]!.stringValue!
        expectVariant = expect["variant"]!.stringValue!
        expectDims = [:]
        for member in expect["dims"]!.objectMembers! { expectDims[member.key] = member.value.intValue }
        expectWarnings = expect["warnings"]?.arrayValue?.compactMap(\.stringValue) ?? []
        metadata = json["metadata"]!.objectMembers!.map { member in
            switch member.value {
            case .bool(let flag): MetadataEntry(member.key, .bool(flag))
            case .string(let text): MetadataEntry(member.key, .string(text))
            default: MetadataEntry(member.key, .uint32(UInt32(member.value.intValue!)))
            }
        }
        tensors = json["tensors"]!.arrayValue!.map { item in
            (item.arrayValue![0].stringValue!, item.arrayValue![1].arrayValue!.map { $0.intValue! })
        }
    }

    /// The release's config.json as transformers' save_pretrained writes it, when the dump made one.
    var config: ConfigFacts? {
        let path = graphFixtures + "/configs/\(release)/config.json"
        return try? ConfigReader.read(path: path)
    }

    func checkpoint(directory: String) throws -> Checkpoint {
        try sparseCheckpoint(tensors, format: format, metadata: metadata, directory: directory)
    }
}

func describe(_ report: ValidationReport) -> String {
    report.text
}
