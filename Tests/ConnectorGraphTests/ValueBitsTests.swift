import CConnkit
import Testing
import TensorFormats
@testable import ConnectorGraph
#if canImport(Glibc)
import Glibc
#endif

/// The value scan read from stored bits (`ValueScanner.bitStats`, `ck_value_stats_*`) agrees with reading
/// the values as float32 (`accumulate`): counts, largest finite magnitude, constancy and the first value,
/// for every dtype it reads, special values and odd lengths included; the vector and portable C paths
/// agree exactly.
@Suite struct ValueBitsTests {
    /// Subnormals (about 1e-40 and -1e-42) written by their bits.
    static let specials: [Float] = [.nan, -.nan, .infinity, -.infinity, 0, -0, Float(bitPattern: 0x0001_16C2),
                                    -Float(bitPattern: 0x0000_02CA), 65504, 65520, -70000,
                                    .greatestFiniteMagnitude, 3e38, 1, -1, 0.5]

    /// Deterministic values: a cycle through `specials` every `every` elements, pseudo-random otherwise.
    static func values(count: Int, every: Int?, seed: UInt64) -> [Float] {
        var state = seed | 1
        return (0 ..< count).map { index in
            if let every, index % every == every - 1 { return specials[(index / every) % specials.count] }
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return Float(Int64(truncatingIfNeeded: state % 2_000_001) - 1_000_000) / 3_000
        }
    }

    /// The patterns: mixed values, specials densely, constants (of zeros of both signs too), a NaN first.
    static let patterns: [(String, [Float])] = [
        ("mixed", values(count: 70_001, every: 997, seed: 7)),
        ("specials", values(count: 333, every: 1, seed: 3)),
        ("constant", [Float](repeating: 0.25, count: 1_037)),
        ("zeros of both signs", (0 ..< 517).map { $0 % 3 == 0 ? -0.0 : 0.0 }),
        ("constant but the last", [Float](repeating: 2, count: 4_097) + [3]),
        ("NaN first", [.nan] + [Float](repeating: 1, count: 40)),
        ("one", [7]),
    ]

    static func encoded(_ values: [Float], _ dtype: DType) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: values.count * dtype.layout.blockBytes)
        values.withUnsafeBufferPointer { source in
            bytes.withUnsafeMutableBytes { Cast.fromFloat32(source.baseAddress!, count: values.count, to: dtype, into: $0.baseAddress!) }
        }
        return bytes
    }

    static func same(_ a: ValueStats, _ b: ValueStats) -> Bool {
        a.elements == b.elements && a.nan == b.nan && a.infinite == b.infinite && a.zeros == b.zeros && a.maxAbs == b.maxAbs
            && a.constant == b.constant && (a.first == b.first || (a.first?.isNaN == true && b.first?.isNaN == true))
    }

    @Test(arguments: [DType.f32, .f16, .bf16])
    func bitsAgreeWithFloats(_ dtype: DType) throws {
        let directory = temporaryDirectory()
        for (name, values) in Self.patterns {
            let bytes = Self.encoded(values, dtype)
            let path = directory + "/\(dtype.rawValue)-\(values.count).bin"
            let fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0o644)
            #expect(bytes.withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) } == bytes.count)
            close(fd)
            let info = try TensorInfo(name: name, dtype: dtype, shape: [values.count])
            let tensor = Tensor(info: info, data: MappedTensorData(file: try MappedFile(path: path), offset: 0, count: bytes.count))
            for range in [0 ..< values.count, (values.count / 3) ..< values.count] where !range.isEmpty {
                let fast = try #require(ValueScanner.bitStats(tensor, range))
                var slow = ValueStats()
                try tensor.forEachFloatChunk(maxElements: 4096, in: range, f64: .saturating) { chunk, first in
                    ValueScanner.accumulate(UnsafeBufferPointer(chunk), offset: first, into: &slow)
                }
                #expect(Self.same(fast, slow), "\(dtype) \(name) \(range): \(fast) vs \(slow)")
                // The whole scan: the stored bits for finite chunks, float32 (with positions) otherwise.
                if range.lowerBound == 0, let scanned = try ValueScanner.scan([tensor]).first ?? nil {
                    #expect(Self.same(scanned, slow) && scanned.nonFinitePositions == slow.nonFinitePositions, "\(dtype) \(name) scan")
                }
            }
        }
    }

    @Test func vectorAndPortablePathsAgree() {
        for count in Array(0 ... 70) + [4_095, 70_001] {
            for (offset, values) in [Self.values(count: count, every: 13, seed: UInt64(count)),
                                     [Float](repeating: -0.0, count: count)].enumerated() {
                var fast = ck_value_stats(), portable = ck_value_stats()
                for dtype in [DType.f16, .bf16] {
                    let bytes = Self.encoded(values, dtype)
                    bytes.withUnsafeBytes { raw in
                        let x = raw.baseAddress?.assumingMemoryBound(to: UInt16.self)
                        if dtype == .f16 {
                            ck_value_stats_f16(x, count, &fast)
                            ck_value_stats_f16_portable(x, count, &portable)
                        } else {
                            ck_value_stats_bf16(x, count, &fast)
                            ck_value_stats_bf16_portable(x, count, &portable)
                        }
                    }
                    #expect(fast.nan == portable.nan && fast.infinite == portable.infinite && fast.zeros == portable.zeros
                            && fast.max_bits == portable.max_bits && fast.constant == portable.constant, "\(dtype) \(count) \(offset)")
                }
                values.withUnsafeBytes { raw in
                    let x = raw.baseAddress?.assumingMemoryBound(to: UInt32.self)
                    ck_value_stats_f32(x, count, &fast)
                    ck_value_stats_f32_portable(x, count, &portable)
                }
                #expect(fast.nan == portable.nan && fast.infinite == portable.infinite && fast.zeros == portable.zeros
                        && fast.max_bits == portable.max_bits && fast.constant == portable.constant, "f32 \(count) \(offset)")
            }
        }
    }
}
