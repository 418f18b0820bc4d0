import Foundation
import Testing
@testable import TensorFormats

/// `Tensor.forEachFloatChunk` and friends: every chunking gives the values of decoding the whole tensor
/// at once (`Cast.toFloat32` for plain types, `GGMLBlocks.dequantize` for block types, both checked
/// against numpy / gguf-py elsewhere), chunks hold whole rows and blocks, nothing is sized for an
/// empty tensor, and the pages released behind the reader read back the same.
struct FloatReaderTests {
    /// Tensor data held in memory (no file region: the path of materialised data).
    struct InMemoryData: TensorData {
        let bytes: [UInt8]
        var fileRegion: FileRegion? { nil }
        func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
            try bytes.withUnsafeBytes(body)
        }
    }

    static func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var state = seed
        return (0 ..< count).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 56)
        }
    }

    /// A `[rows, rowLength]` tensor of `dtype` with random bytes, in a real file (mapped) or in memory.
    static func tensor(_ dtype: DType, rows: Int, rowLength: Int, inFile directory: TemporaryDirectory?) throws
        -> (Tensor, [UInt8]) {
        let info = try TensorInfo(name: "t", dtype: dtype, shape: [rows, rowLength])
        let bytes = randomBytes(info.byteCount, seed: UInt64(dtype.rawValue.hashValue & 0xFFFF) + 7)
        guard let directory else { return (Tensor(info: info, data: InMemoryData(bytes: bytes)), bytes) }
        let path = directory.file("\(dtype.rawValue).bin")
        try writeFile(path, [0, 1, 2] + bytes)  // an odd offset, as in a real container
        let file = try MappedFile(path: path)
        return (Tensor(info: info, data: MappedTensorData(file: file, offset: 3, count: bytes.count)), bytes)
    }

    /// The reference: the whole tensor decoded in one call.
    static func reference(_ dtype: DType, _ bytes: [UInt8], count: Int) throws -> [UInt32] {
        var values = [Float](repeating: 0, count: count)
        try bytes.withUnsafeBytes { raw in
            if dtype.isBlockQuantized {
                try values.withUnsafeMutableBufferPointer { try GGMLBlocks.dequantize(dtype, raw, into: $0) }
            } else {
                Cast.toFloat32(raw.baseAddress!, dtype, count: count, into: &values)
            }
        }
        return values.map(\.bitPattern)
    }

    static let readable = DType.allCases.filter(\.readsAsFloat32)

    @Test func readableDTypesAreTheFloatsTheF8sAndEveryBlockType() {
        #expect(Set(Self.readable) == Set([.f64, .f32, .f16, .bf16, .f8_e4m3, .f8_e5m2, .f8_e8m0, .f8_e4m3fnuz, .f8_e5m2fnuz]
            + GGMLBlocks.dequantizable))
        #expect(GGMLBlocks.dequantizable.count == DType.allCases.filter(\.isBlockQuantized).count)
    }

    @Test(arguments: readable, [false, true])
    func everyChunkingGivesTheWholeDecode(dtype: DType, inFile: Bool) throws {
        let directory = try TemporaryDirectory()
        let blockElements = dtype.layout.blockElements
        let rowLength = 3 * blockElements
        let (tensor, bytes) = try Self.tensor(dtype, rows: 5, rowLength: rowLength, inFile: inFile ? directory : nil)
        let count = tensor.info.elementCount
        let expected = try Self.reference(dtype, bytes, count: count)
        for (rows, maxElements) in [(rowLength, 1), (rowLength, 2 * rowLength + 1), (1, 1), (1, 100), (1, 1 << 30)] {
            var seen: [UInt32] = []
            try tensor.forEachFloatChunk(rowsOf: rows, maxElements: maxElements) { values, first in
                #expect(first == seen.count)
                #expect(values.count % rows == 0 && values.count % blockElements == 0)
                #expect(values.count <= max(maxElements, rows, blockElements))
                seen += values.map(\.bitPattern)
            }
            #expect(seen == expected, "\(dtype) rows \(rows), max \(maxElements): chunked decoding differs")
        }
        // A part of the tensor, on row boundaries.
        var part: [UInt32] = []
        try tensor.forEachFloatChunk(rowsOf: rowLength, maxElements: rowLength, in: rowLength ..< 3 * rowLength) { values, first in
            #expect(first == rowLength + part.count)
            part += values.map(\.bitPattern)
        }
        #expect(part == Array(expected[rowLength ..< 3 * rowLength]), "a part differs")
        // Whole-tensor reads, twice (the pages released by the first read back the same).
        #expect(try tensor.floats().map(\.bitPattern) == expected, "floats() differs")
        var into = [Float](repeating: 0, count: count)
        try into.withUnsafeMutableBufferPointer { try tensor.readFloats(into: $0, threads: 2) }
        #expect(into.map(\.bitPattern) == expected, "readFloats differs")
        // Bytes in hand.
        var decoded = [Float](repeating: 0, count: count)
        try bytes.withUnsafeBytes { raw in try decoded.withUnsafeMutableBufferPointer { try dtype.decodeFloats(raw, into: $0) } }
        #expect(decoded.map(\.bitPattern) == expected, "decodeFloats differs")
    }

    @Test(arguments: [DType.f16, .bf16, .q4_k, .iq2_xxs])
    func decodingIntoUnalignedMemoryAndAcrossThreadsGivesTheSameValues(dtype: DType) throws {
        let blockElements = dtype.layout.blockElements
        let rowLength = max(1, 4096 / blockElements) * blockElements
        let (tensor, bytes) = try Self.tensor(dtype, rows: 40, rowLength: rowLength, inFile: nil)
        let expected = try Self.reference(dtype, bytes, count: tensor.info.elementCount)
        var raw = [UInt8](repeating: 0, count: tensor.info.elementCount * 4 + 1)
        try tensor.forEachChunk(maxElements: 20000) { chunk in
            raw.withUnsafeMutableBytes { out in
                chunk.decode(into: UnsafeMutableRawBufferPointer(rebasing: out[1 + 4 * chunk.firstElement ..< 1 + 4 * (chunk.firstElement + chunk.count)]))
            }
        }
        let unaligned = stride(from: 1, to: raw.count, by: 4).map { i in
            UInt32(raw[i]) | UInt32(raw[i + 1]) << 8 | UInt32(raw[i + 2]) << 16 | UInt32(raw[i + 3]) << 24
        }
        #expect(unaligned == expected, "unaligned decoding differs")
        let threaded = try tensor.floats(threads: 2).map(\.bitPattern)
        let differ = zip(threaded, expected).enumerated().filter { $0.element.0 != $0.element.1 }
        #expect(differ.isEmpty, "\(differ.count) differ, first \(differ.prefix(4).map { ($0.offset, String($0.element.0, radix: 16), String($0.element.1, radix: 16)) })")
    }

    /// `[0, 2, 2^40]` has no elements: nothing is read or allocated whatever the row length.
    @Test func anEmptyTensorIsNeverSizedByItsOtherDimensions() throws {
        let info = try TensorInfo(name: "empty", dtype: .f32, shape: [0, 2, 1 << 40])
        let tensor = Tensor(info: info, data: InMemoryData(bytes: []))
        var calls = 0
        try tensor.forEachFloatChunk(rowsOf: 1 << 40, maxElements: 1 << 20) { _, _ in calls += 1 }
        try tensor.forEachChunk(rowsOf: 1 << 40) { _ in calls += 1 }
        #expect(calls == 0)
        #expect(try tensor.floats() == [])
        let block = Tensor(info: try TensorInfo(name: "q", dtype: .q4_k, shape: [1 << 40, 0]), data: InMemoryData(bytes: []))
        #expect(try block.floats() == [])
    }

    @Test func dtypesThatDoNotReadAsFloatAreRefusedEvenWhenEmpty() throws {
        for (dtype, shape) in [(DType.i32, [4]), (.i32, [0]), (.bool, [2]), (.f4, [4]), (.c64, [1])] {
            let info = try TensorInfo(name: "n", dtype: dtype, shape: shape)
            let tensor = Tensor(info: info, data: InMemoryData(bytes: [UInt8](repeating: 0, count: info.byteCount)))
            let error = formatError { try tensor.forEachFloatChunk { _, _ in } }
            guard case .unsupportedDType(let name, _) = error?.kind else {
                Issue.record("\(dtype): expected .unsupportedDType, got \(String(describing: error))")
                continue
            }
            #expect(name == dtype.rawValue)
            #expect(error?.location == .tensor("n"))
        }
    }

    @Test func f64RoundsAsAsked() throws {
        let values: [Double] = [1e300, -1e300, .infinity, -.infinity, 1.0000000001, 1e-50, -0.0, 3.4028235677973366e38]
        let info = try TensorInfo(name: "d", dtype: .f64, shape: [values.count])
        let tensor = Tensor(info: info, data: InMemoryData(bytes: values.withUnsafeBytes { Array($0) }))
        let nearest = try tensor.floats()
        #expect(nearest.map(\.bitPattern) == values.map { Float($0).bitPattern })
        let saturated = try tensor.floats(f64: .saturating)
        let greatest = Float.greatestFiniteMagnitude
        #expect(saturated.map(\.bitPattern) == [greatest, -greatest, .infinity, -.infinity, Float(1.0000000001), 0, -0.0, greatest]
            .map(\.bitPattern))
        let odd = try tensor.floats(f64: .toOdd)
        #expect(odd.map(\.bitPattern) == values.map { Cast.float32RoundedToOdd($0).bitPattern })
    }
}
