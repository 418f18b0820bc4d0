import Foundation
import Testing
@testable import TensorFormats

/// The hostile corpus (Tests/Fixtures/hostile/gguf/generate.py): one file per rejection class, each
/// refused with the FormatError kind below, attributed to the file.
struct GGUFHostileTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let file: String
        let kind: String
        var testDescription: String { "\(file) → \(kind)" }
    }

    static let cases: [Case] = [
        Case(file: "bad_magic", kind: "badMagic"),
        Case(file: "empty_file", kind: "truncated"),
        Case(file: "magic_only", kind: "truncated"),
        Case(file: "version_0", kind: "unsupportedVersion"),
        Case(file: "version_4", kind: "unsupportedVersion"),
        Case(file: "version_65536", kind: "unsupportedVersion"),
        Case(file: "version_big_endian_rest_little", kind: "truncated"),
        Case(file: "truncated_in_counts", kind: "truncated"),
        Case(file: "truncated_in_key", kind: "truncated"),
        Case(file: "truncated_in_tensor_info", kind: "truncated"),
        Case(file: "truncated_in_padding", kind: "truncated"),
        Case(file: "truncated_in_data", kind: "truncated"),
        Case(file: "kv_count_huge", kind: "truncated"),
        Case(file: "kv_count_above_int64", kind: "truncated"),
        Case(file: "tensor_count_huge", kind: "truncated"),
        Case(file: "string_length_huge", kind: "limitExceeded"),
        Case(file: "string_length_past_eof", kind: "truncated"),
        Case(file: "array_count_huge", kind: "truncated"),
        Case(file: "nested_array_depth_bomb", kind: "limitExceeded"),
        Case(file: "alignment_0", kind: "invalidHeader"),
        Case(file: "alignment_3", kind: "invalidHeader"),
        Case(file: "alignment_u64", kind: "invalidHeader"),
        Case(file: "alignment_string", kind: "invalidHeader"),
        Case(file: "unknown_value_type", kind: "invalidHeader"),
        Case(file: "bool_value_2", kind: "invalidHeader"),
        Case(file: "empty_key", kind: "invalidHeader"),
        Case(file: "duplicate_key", kind: "duplicateName"),
        Case(file: "invalid_utf8_key", kind: "invalidUTF8"),
        Case(file: "invalid_utf8_value", kind: "invalidUTF8"),
        Case(file: "invalid_utf8_name", kind: "invalidUTF8"),
        Case(file: "unknown_ggml_type", kind: "unknownDType"),
        Case(file: "removed_ggml_type_4", kind: "unknownDType"),
        Case(file: "ggml_type_count", kind: "unknownDType"),
        Case(file: "n_dims_5", kind: "tooManyDimensions"),
        Case(file: "dim_negative", kind: "invalidShape"),
        Case(file: "dim_product_overflow", kind: "overflow"),
        Case(file: "byte_size_overflow", kind: "overflow"),
        Case(file: "ne0_not_block_multiple", kind: "invalidShape"),
        Case(file: "offset_not_sequential", kind: "badOffset"),
        Case(file: "offset_overlap", kind: "badOffset"),
        Case(file: "offset_first_not_zero", kind: "badOffset"),
        Case(file: "offset_misaligned", kind: "misaligned"),
        Case(file: "offset_u64_near_max", kind: "badOffset"),
        Case(file: "data_past_eof", kind: "truncated"),
        Case(file: "duplicate_tensor_name", kind: "duplicateName"),
        Case(file: "name_64_bytes", kind: "limitExceeded"),
    ]

    @Test(arguments: cases)
    func refused(_ hostile: Case) throws {
        let url = GGUFTestSupport.hostileFixtures.appendingPathComponent(hostile.file + ".gguf")
        let error = try #require(GGUFTestSupport.formatError { _ = try GGUFTestSupport.read(url) })
        #expect(GGUFTestSupport.kindName(error.kind) == hostile.kind, "\(error)")
        #expect(error.file == url.path)
        #expect(error.location != nil, "\(error) names no byte offset, tensor or key")
    }

    /// Messages print the numbers the file holds: a u64 offset of 2^64-32 in full (it was clamped to
    /// 9223372036854775807), a dimension of 2^63 as the negative int64 ggml reads.
    @Test(arguments: [("offset_u64_near_max", "18446744073709551584"), ("dim_negative", "-9223372036854775808")])
    func messagesPrintTheFileValue(_ file: String, _ text: String) throws {
        let url = GGUFTestSupport.hostileFixtures.appendingPathComponent(file + ".gguf")
        let error = try #require(GGUFTestSupport.formatError { _ = try GGUFTestSupport.read(url) })
        #expect(error.description.contains(text), "\(error)")
        #expect(!error.description.contains(String(Int.max)), "\(error)")
    }

    @Test func everyCorpusFileHasAnExpectation() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: GGUFTestSupport.hostileFixtures.path)
            .filter { $0.hasSuffix(".gguf") && $0 != "base.gguf" }
            .map { String($0.dropLast(".gguf".count)) }
        #expect(Set(files) == Set(Self.cases.map(\.file)))
    }

    @Test func baseFileIsValid() throws {
        let checkpoint = try GGUFTestSupport.read(GGUFTestSupport.hostileFixtures.appendingPathComponent("base.gguf"))
        #expect(checkpoint.tensors.map(\.name) == ["a", "b"])
        #expect(checkpoint.tensors.map(\.shape) == [[4], [2, 32]])
    }

    /// Cutting the valid file anywhere before the end of the last tensor's bytes is `.truncated`; from
    /// there on only the final padding is missing, which connkit (like llama.cpp) does not require.
    @Test func truncationAnywhere() throws {
        let base = try Data(contentsOf: GGUFTestSupport.hostileFixtures.appendingPathComponent("base.gguf"))
        let full = try GGUFTestSupport.read(GGUFTestSupport.hostileFixtures.appendingPathComponent("base.gguf"))
        let last = try #require(full.tensors.last?.data.fileRegion)
        let dataEnd = last.offset + last.count
        let directory = try GGUFTestSupport.TemporaryDirectory()
        for length in 0 ..< base.count {
            let path = directory.path("cut-\(length).gguf")
            try base.prefix(length).write(to: URL(fileURLWithPath: path))
            let error = GGUFTestSupport.formatError { _ = try GGUFReader.read(MappedFile(path: path)) }
            if length < dataEnd {
                #expect(error.map { GGUFTestSupport.kindName($0.kind) } == "truncated", "cut at \(length): \(String(describing: error))")
            } else {
                #expect(error == nil, "cut at \(length) (after the data): \(String(describing: error))")
            }
        }
    }

    /// Metadata values are capped in number (each becomes a Swift value many times its file size).
    @Test func tooManyMetadataValues() throws {
        let count = GGUFLayout.maxMetadataValues + 1
        var header: [UInt8] = Array("GGUF".utf8)
        func append<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { header += $0 } }
        append(UInt32(3)); append(UInt64(0)); append(UInt64(1))
        append(UInt64(6)); header += Array("test.x".utf8)
        append(UInt32(9)); append(UInt32(0)); append(UInt64(count))
        let directory = try GGUFTestSupport.TemporaryDirectory()
        let path = directory.path("many.gguf")
        try Data(header).write(to: URL(fileURLWithPath: path))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: UInt64(header.count + count))  // zero bytes: valid u8 elements
        try handle.close()
        let error = try #require(GGUFTestSupport.formatError { _ = try GGUFReader.read(MappedFile(path: path)) })
        #expect(GGUFTestSupport.kindName(error.kind) == "limitExceeded", "\(error)")
    }

    /// A tensor name with a NUL byte is refused: ggml would read "w\0x" as tensor "w".
    @Test func tensorNameWithNULIsRefused() throws {
        let directory = try GGUFTestSupport.TemporaryDirectory()
        var bytes: [UInt8] = Array("GGUF".utf8)
        func append<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
        append(UInt32(3)); append(UInt64(1)); append(UInt64(0))
        append(UInt64(3)); bytes += [0x77, 0x00, 0x78]  // "w\0x"
        append(UInt32(1)); append(UInt64(1)); append(UInt32(0)); append(UInt64(0))
        bytes += [UInt8](repeating: 0, count: (32 - bytes.count % 32) % 32 + 32)
        let path = directory.path("nul.gguf")
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let error = try #require(GGUFTestSupport.formatError { _ = try GGUFReader.read(MappedFile(path: path)) })
        #expect(GGUFTestSupport.kindName(error.kind) == "invalidHeader", "\(error)")
        #expect(error.description.contains("NUL"))
    }

    /// The limits are exact: a 63-byte name and arrays nested to the maximum depth are accepted.
    @Test func limitsAreInclusive() throws {
        let directory = try GGUFTestSupport.TemporaryDirectory()
        let name = String(repeating: "n", count: GGUFLayout.maxTensorNameBytes)
        var nested = MetadataValue.array(.uint8, [.uint8(7)])
        for _ in 1 ..< GGUFLayout.maxArrayNesting { nested = .array(.array, [nested]) }
        let path = directory.path("limits.gguf")
        // The writer refuses nested arrays, so pack this file by hand: one kv, one tensor.
        var bytes: [UInt8] = Array("GGUF".utf8)
        func append<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
        func appendString(_ text: String) { append(UInt64(text.utf8.count)); bytes += Array(text.utf8) }
        func appendValue(_ value: MetadataValue) {
            switch value {
            case .uint8(let v): append(v)
            case .array(let type, let items):
                append(type.rawValue); append(UInt64(items.count)); items.forEach(appendValue)
            default: Issue.record("unexpected value")
            }
        }
        append(UInt32(3)); append(UInt64(1)); append(UInt64(1))
        appendString("test.nested"); append(MetadataType.array.rawValue); appendValue(nested)
        appendString(name); append(UInt32(1)); append(UInt64(1)); append(UInt32(0)); append(UInt64(0))
        bytes += [UInt8](repeating: 0, count: (32 - bytes.count % 32) % 32 + 32)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let checkpoint = try GGUFReader.read(MappedFile(path: path))
        #expect(checkpoint.tensors.first?.name == name)
        #expect(checkpoint.metadata.first?.value == nested)
    }

    /// Keys, names and strings are decoded strictly; the fast decoder must refuse every malformed
    /// sequence, including those whose U+FFFD replacement has the same length (a cut 4-byte sequence).
    @Test(arguments: [
        ([0xF0, 0x9F, 0x98], false), ([0xED, 0xA0, 0x80], false), ([0xC0, 0xAF], false), ([0xFF], false),
        ([0xF4, 0x90, 0x80, 0x80], false), ([0x61, 0x80], false), ([0xE2, 0x82], false),
        ([0xF0, 0x9F, 0x98, 0x80], true), ([0xEF, 0xBF, 0xBD], true), ([0x00, 0x61], true), ([], true),
    ] as [([UInt8], Bool)])
    func utf8ValidationIsStrict(_ bytes: [UInt8], _ valid: Bool) {
        let decoded = bytes.withUnsafeBytes { String(validatingUTF8Bytes: $0) }
        #expect((decoded != nil) == valid)
        if let decoded { #expect(Array(decoded.utf8) == bytes) }
    }
}
