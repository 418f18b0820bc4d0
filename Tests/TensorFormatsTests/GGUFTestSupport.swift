import Foundation
@testable import TensorFormats

/// Helpers of the GGUF tests (namespaced so other formats' test files can have their own).
enum GGUFTestSupport {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures")
    static let ggufFixtures = fixtures.appendingPathComponent("gguf")
    static let hostileFixtures = fixtures.appendingPathComponent("hostile").appendingPathComponent("gguf")

    static func read(_ url: URL) throws -> Checkpoint {
        try GGUFReader.read(MappedFile(path: url.path))
    }

    static func json(at url: URL) throws -> JSONValue {
        let file = try MappedFile(path: url.path)
        return try file.withBytes { try JSONValue.parse($0) }
    }

    /// A fresh directory removed when the value is released.
    final class TemporaryDirectory {
        let url: URL
        init() throws {
            url = FileManager.default.temporaryDirectory
                .appendingPathComponent("connkit-gguf-tests-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        }
        func path(_ name: String) -> String { url.appendingPathComponent(name).path }
        deinit { try? FileManager.default.removeItem(at: url) }
    }

    /// The case of a FormatError kind, for tables of expected refusals (never the message text).
    static func kindName(_ kind: FormatError.Kind) -> String {
        switch kind {
        case .io: "io"
        case .notFound: "notFound"
        case .badMagic: "badMagic"
        case .unsupportedVersion: "unsupportedVersion"
        case .unsupportedFormat: "unsupportedFormat"
        case .truncated: "truncated"
        case .limitExceeded: "limitExceeded"
        case .overflow: "overflow"
        case .invalidUTF8: "invalidUTF8"
        case .invalidJSON: "invalidJSON"
        case .invalidHeader: "invalidHeader"
        case .duplicateName: "duplicateName"
        case .unknownDType: "unknownDType"
        case .unsupportedDType: "unsupportedDType"
        case .invalidShape: "invalidShape"
        case .tooManyDimensions: "tooManyDimensions"
        case .sizeMismatch: "sizeMismatch"
        case .badOffset: "badOffset"
        case .uncoveredBytes: "uncoveredBytes"
        case .misaligned: "misaligned"
        case .crcMismatch: "crcMismatch"
        case .compression: "compression"
        case .inconsistent: "inconsistent"
        case .refused: "refused"
        case .disallowedGlobal: "disallowedGlobal"
        case .unconvertible: "unconvertible"
        case .inputChanged: "inputChanged"
        case .notFormat: "notFormat"
        }
    }

    /// Runs `body` and returns the FormatError it throws (nil if it throws nothing or something else).
    static func formatError(_ body: () throws -> Void) -> FormatError? {
        do {
            try body()
            return nil
        } catch let error as FormatError {
            return error
        } catch {
            return nil
        }
    }

    /// FNV-1a 64-bit hash as 16 hex digits (the fixture generators use the same function).
    static func fnv1a64(_ bytes: UnsafeRawBufferPointer) -> String {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01B3
        }
        let digits = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// Deterministic pseudo-random bytes (xorshift64*), so tests need no seeds from the system.
    static func bytes(count: Int, seed: UInt64) -> [UInt8] {
        var state = seed | 1
        var result: [UInt8] = []
        result.reserveCapacity(count)
        while result.count < count {
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            let word = state &* 0x2545_F491_4F6C_DD1D
            for shift in stride(from: 0, to: 64, by: 8) where result.count < count {
                result.append(UInt8(truncatingIfNeeded: word >> UInt64(shift)))
            }
        }
        return result
    }

    /// Values of a plain little-endian tensor as JSON numbers' text-equivalent values: Double for floats,
    /// Int64 for integers (nil for types without scalar elements).
    static func decode(_ bytes: UnsafeRawBufferPointer, as dtype: DType) -> [Double]? {
        func load<T: FixedWidthInteger>(_: T.Type) -> [T] {
            let size = MemoryLayout<T>.size
            return (0 ..< bytes.count / size).map { T(littleEndian: bytes.loadUnaligned(fromByteOffset: $0 * size, as: T.self)) }
        }
        switch dtype {
        case .f32: return load(UInt32.self).map { Double(Float(bitPattern: $0)) }
        case .f64: return load(UInt64.self).map { Double(bitPattern: $0) }
        case .f16: return load(UInt16.self).map(halfToDouble)
        case .bf16: return load(UInt16.self).map { Double(Float(bitPattern: UInt32($0) << 16)) }
        case .i8: return load(Int8.self).map { Double($0) }
        case .i16: return load(Int16.self).map { Double($0) }
        case .i32: return load(Int32.self).map { Double($0) }
        default: return nil
        }
    }

    static func decodeInt64(_ bytes: UnsafeRawBufferPointer) -> [Int64] {
        (0 ..< bytes.count / 8).map { Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self)) }
    }

    static func halfToDouble(_ bits: UInt16) -> Double {
        let sign: Double = bits & 0x8000 != 0 ? -1 : 1
        let exponent = Int((bits >> 10) & 0x1F)
        let fraction = Double(bits & 0x3FF)
        switch exponent {
        case 0: return sign * fraction * 0x1p-24
        case 31: return fraction == 0 ? sign * .infinity : .nan
        default: return sign * (1 + fraction / 1024) * Double(sign: .plus, exponent: exponent - 15, significand: 1)
        }
    }

    /// Whether `value` is what a fixture sidecar says: `types` are the GGUF type ids from the outside in
    /// (`[9, 4]` = array of u32), `expected` the JSON value gguf-py reported.
    static func matches(_ value: MetadataValue, _ expected: JSONValue, types: ArraySlice<Int>) -> Bool {
        guard let first = types.first, first == Int(value.type.rawValue) else { return false }
        switch value {
        case .uint8(let v): return expected == .int(v)
        case .int8(let v): return expected == .int(v)
        case .uint16(let v): return expected == .int(v)
        case .int16(let v): return expected == .int(v)
        case .uint32(let v): return expected == .int(v)
        case .int32(let v): return expected == .int(v)
        case .uint64(let v): return expected == .int(v)
        case .int64(let v): return expected == .int(v)
        case .float32(let v): return expected.doubleValue.map { Float($0) == v } ?? false
        case .float64(let v): return expected.doubleValue == v
        case .bool(let v): return expected.boolValue == v
        case .string(let v): return expected.stringValue == v
        case .array(let elementType, let items):
            guard let expectedItems = expected.arrayValue, expectedItems.count == items.count else { return false }
            if let elementId = types.dropFirst().first, elementId != Int(elementType.rawValue) { return false }
            return zip(items, expectedItems).allSatisfy { matches($0, $1, types: types.dropFirst()) }
        }
    }
}
