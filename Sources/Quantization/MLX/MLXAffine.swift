import CConnkit
import TensorFormats

/// MLX affine quantization (`mx.quantize(w, group_size, bits, mode="affine")`, mlx 0.32), reproduced
/// exactly: same codes, and scales and biases equal to mlx's after the cast to the source dtype.
///
/// Per group of `groupSize` consecutive values along the last axis, in float32:
///
///     scale = max((max - min) / (2^bits - 1), 1e-7)
///     if |min| > |max| { edge = min } else { edge = max; scale = -scale }
///     q0 = rint(edge / scale)                               (round half to even)
///     if q0 != 0 { scale = edge / q0; bias = edge } else { bias = 0 }
///     q = clamp(rint((w - bias) / scale), 0, 2^bits - 1)
///
/// Scales and biases are stored in the source dtype (f32, f16 or bf16, rounded to nearest even; f64
/// sources use f32). Codes form a little-endian bit stream per row: code i occupies bits
/// `[i*bits, (i+1)*bits)` counting from bit 0 of the row's first uint32 word, so 3- and 6-bit codes can
/// straddle words. Dequantization (mlx's CPU float32 path): `w = scale * q + bias`.
public enum MLXAffine {
    public static let groupSizes = [32, 64, 128]
    public static let bits = QuantizationType.mlxBits

    /// The dtype MLX stores scales and biases in for a source of `dtype`.
    public static func parameterDType(for dtype: DType) -> DType {
        switch dtype {
        case .f16, .bf16: dtype
        default: .f32
        }
    }

    /// uint32 words per row of `rowLength` values; nil when `rowLength × bits` overflows (a row length
    /// from a file is bounded by the bytes present, but is never trusted to be).
    public static func wordsPerRow(_ rowLength: Int, bits: Int) -> Int? {
        Checked.multiply(rowLength, bits).map { $0 / 32 }
    }

    /// Quantizes rows of `rowLength` float32 values (already widened from the source dtype).
    /// `words` receives `rows × rowLength × bits / 32` little-endian uint32 words (nil: only the scales
    /// and biases are wanted, and no codes are computed); `scales` and `biases` receive
    /// `rows × rowLength / groupSize` values of `parameterType` each. Rows are split across up to `threads`
    /// threads. `kernel` `.fast` runs the AVX2 kernel of CConnkit (`ck_quantize_mlx`) where the CPU has it;
    /// `.portable` and `.reference` run the Swift kernel below. Every kernel gives the same bytes.
    public static func quantize(_ values: UnsafeBufferPointer<Float>, rowLength: Int, groupSize: Int, bits: Int,
                                parameterType: DType, words: UnsafeMutableRawBufferPointer?,
                                scales: UnsafeMutableRawBufferPointer, biases: UnsafeMutableRawBufferPointer,
                                threads: Int = 1, kernel: QuantizationKernel = .fast) throws {
        guard groupSizes.contains(groupSize) else { throw QuantizationError(.groupSize(groupSize)) }
        guard self.bits.contains(bits) else { throw QuantizationError(.unknownType("mlx-q\(bits)")) }
        guard rowLength > 0, rowLength % groupSize == 0, values.count % rowLength == 0 else {
            throw QuantizationError(.rowLength(rowLength, blockElements: groupSize, type: "mlx-q\(bits)"))
        }
        let groups = values.count / groupSize
        let parameterSize = parameterType.elementSize ?? 4
        guard words == nil || words?.count == values.count * bits / 8 else {
            throw QuantizationError(.sizeMismatch(expected: values.count * bits / 8, found: words?.count ?? 0))
        }
        guard scales.count == groups * parameterSize, biases.count == groups * parameterSize else {
            throw QuantizationError(.sizeMismatch(expected: groups * parameterSize, found: scales.count))
        }
        guard let source = values.baseAddress else { return }
        let levels = Float((1 << bits) - 1)
        var scaleValues = [Float](repeating: 0, count: groups)
        var biasValues = [Float](repeating: 0, count: groups)
        let wordBase = words?.baseAddress
        let rows = values.count / rowLength
        let groupsPerRow = rowLength / groupSize
        let firstBad = scaleValues.withUnsafeMutableBufferPointer { scaleOut in
            biasValues.withUnsafeMutableBufferPointer { biasOut in
                // Rows are independent: each thread takes a range and writes only its rows' words and groups.
                let shared = UncheckedSendable((scaleOut, biasOut))
                return Parallel.map(count: rows, threads: threads, minimumChunk: max(1, 16384 / rowLength)) { range -> Int? in
                    let (scaleOut, biasOut) = shared.value
                    let first = range.lowerBound * groupsPerRow, count = range.count * groupsPerRow
                    let x = source + first * groupSize
                    // A group fills whole words: group g's codes start at word g × groupSize × bits / 32.
                    let y = wordBase.map { $0 + first * groupSize * bits / 8 }
                    if kernel == .fast {
                        var finite: Int32 = 1
                        if ck_quantize_mlx(x, count, Int32(groupSize), Int32(bits), y?.assumingMemoryBound(to: UInt32.self),
                                           scaleOut.baseAddress! + first, biasOut.baseAddress! + first, &finite) == count {
                            return finite != 0 ? nil : firstNonFinite(x, count * groupSize).map { first * groupSize + $0 }
                        }
                    }
                    if let bad = firstNonFinite(x, count * groupSize) { return first * groupSize + bad }
                    quantizeRows(x, groups: count, groupSize: groupSize, bits: bits, levels: levels, words: y,
                                 scales: scaleOut.baseAddress! + first, biases: biasOut.baseAddress! + first)
                    return nil
                }.compactMap { $0 }.min()
            }
        }
        if let bad = firstBad {
            throw QuantizationError(.nonFinite(index: bad, value: "\(source[bad])"))
        }
        store(scaleValues, as: parameterType, into: scales)
        store(biasValues, as: parameterType, into: biases)
    }

    /// The Swift kernel: `groups` consecutive groups (whole rows), their codes into `words` (none when nil)
    /// and their float32 scales and biases.
    static func quantizeRows(_ x: UnsafePointer<Float>, groups: Int, groupSize: Int, bits: Int, levels: Float,
                             words: UnsafeMutableRawPointer?, scales: UnsafeMutablePointer<Float>,
                             biases: UnsafeMutablePointer<Float>) {
        guard let words else {
            for group in 0 ..< groups {
                (scales[group], biases[group]) = parameters(x + group * groupSize, groupSize, levels: levels)
            }
            return
        }
        var codes = [UInt32](repeating: 0, count: groupSize)
        // Codes accumulate in a 64-bit window and leave it a word at a time; a group ends on a word boundary.
        var window: UInt64 = 0
        var windowBits = 0
        var wordIndex = 0  // in bytes
        for group in 0 ..< groups {
            (scales[group], biases[group]) = quantizeGroup(x + group * groupSize, groupSize, levels: levels, into: &codes)
            for code in codes {
                window |= UInt64(code) << windowBits
                windowBits += bits
                if windowBits >= 32 {
                    words.storeBytes(of: UInt32(truncatingIfNeeded: window).littleEndian, toByteOffset: wordIndex, as: UInt32.self)
                    wordIndex += 4
                    window >>= 32
                    windowBits -= 32
                }
            }
        }
    }

    /// One group: its codes and the float32 (scale, bias) before the cast to the storage dtype.
    @inline(__always)
    static func quantizeGroup(_ x: UnsafePointer<Float>, _ n: Int, levels: Float, into codes: inout [UInt32]) -> (Float, Float) {
        let (scale, bias) = parameters(x, n, levels: levels)
        for i in 0 ..< n {
            let q = ((x[i] - bias) / scale).rounded(.toNearestOrEven)
            codes[i] = q > 0 ? UInt32(Swift.min(q, levels)) : 0
        }
        return (scale, bias)
    }

    /// One group's float32 (scale, bias).
    @inline(__always)
    static func parameters(_ x: UnsafePointer<Float>, _ n: Int, levels: Float) -> (scale: Float, bias: Float) {
        var max = x[0]
        var min = x[0]
        for i in 1 ..< n {
            if x[i] > max { max = x[i] }
            if x[i] < min { min = x[i] }
        }
        var scale = Swift.max((max - min) / levels, 1e-7)
        let edge: Float
        if abs(min) > abs(max) {
            edge = min
        } else {
            edge = max
            scale = -scale
        }
        let q0 = (edge / scale).rounded(.toNearestOrEven)
        var bias: Float = 0
        if q0 != 0 {
            scale = edge / q0
            bias = edge
        }
        return (scale, bias)
    }

    /// Float32 values as `dtype` (f32, f16 or bf16; round to nearest even), little-endian.
    static func store(_ values: [Float], as dtype: DType, into output: UnsafeMutableRawBufferPointer) {
        values.withUnsafeBufferPointer { source in
            guard let base = source.baseAddress, let out = output.baseAddress else { return }
            switch dtype {
            case .f16: ck_f32_to_f16(base, out.assumingMemoryBound(to: UInt16.self), source.count)
            case .bf16: ck_f32_to_bf16(base, out.assumingMemoryBound(to: UInt16.self), source.count)
            default:
                for (i, v) in source.enumerated() { out.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
            }
        }
    }

    /// Widens `count` stored parameters (f32, f16 or bf16) to float32.
    static func load(_ bytes: UnsafeRawPointer, count: Int, as dtype: DType) -> [Float] {
        var values = [Float](repeating: 0, count: count)
        values.withUnsafeMutableBufferPointer { out in
            switch dtype {
            case .f16: ck_f16_to_f32(bytes.assumingMemoryBound(to: UInt16.self), out.baseAddress!, count)
            case .bf16: ck_bf16_to_f32(bytes.assumingMemoryBound(to: UInt16.self), out.baseAddress!, count)
            default:
                for i in 0 ..< count { out[i] = Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
            }
        }
        return values
    }

    /// `w = scale * q + bias` in float32 from packed words and stored scales and biases; rows split
    /// across up to `threads` threads. `kernel` `.fast` runs CConnkit's AVX2 `ck_dequantize_mlx` where the CPU
    /// has it, the others the Swift loop below; both give the same bits.
    public static func dequantize(words: UnsafeRawBufferPointer, scales: UnsafeRawBufferPointer, biases: UnsafeRawBufferPointer,
                                  parameterType: DType, rowLength: Int, groupSize: Int, bits: Int,
                                  into values: UnsafeMutableBufferPointer<Float>, threads: Int = 1,
                                  kernel: QuantizationKernel = .fast) throws {
        let groups = values.count / groupSize
        let parameterSize = parameterType.elementSize ?? 4
        guard values.count % rowLength == 0, rowLength % groupSize == 0, words.count == values.count * bits / 8,
              scales.count == groups * parameterSize, biases.count == groups * parameterSize else {
            throw QuantizationError(.sizeMismatch(expected: values.count * bits / 8, found: words.count))
        }
        guard groups > 0, let output = values.baseAddress else { return }
        let scale = load(scales.baseAddress!, count: groups, as: parameterType)
        let bias = load(biases.baseAddress!, count: groups, as: parameterType)
        let mask = UInt64((1 << bits) - 1)
        let wordsPerRow = rowLength * bits / 32
        let groupsPerRow = rowLength / groupSize
        let shared = UncheckedSendable(output)
        _ = Parallel.map(count: values.count / rowLength, threads: threads, minimumChunk: max(1, 16384 / rowLength)) { rows in
            let output = shared.value
            let first = rows.lowerBound * groupsPerRow, count = rows.count * groupsPerRow
            if kernel == .fast,
               scale.withUnsafeBufferPointer({ s in
                   bias.withUnsafeBufferPointer { b in
                       ck_dequantize_mlx(words.baseAddress! + first * groupSize * bits / 8, s.baseAddress! + first,
                                         b.baseAddress! + first, count, Int32(groupSize), Int32(bits), output + first * groupSize)
                   }
               }) == count {
                return
            }
            for row in rows {
                var window: UInt64 = 0
                var windowBits = 0
                var wordIndex = row * wordsPerRow
                var element = row * rowLength
                for group in row * groupsPerRow ..< (row + 1) * groupsPerRow {
                    let (s, b) = (scale[group], bias[group])
                    for _ in 0 ..< groupSize {
                        if windowBits < bits {
                            let word = UInt32(littleEndian: words.loadUnaligned(fromByteOffset: 4 * wordIndex, as: UInt32.self))
                            window |= UInt64(word) << windowBits
                            windowBits += 32
                            wordIndex += 1
                        }
                        output[element] = s * Float(window & mask) + b
                        window >>= UInt64(bits)
                        windowBits -= bits
                        element += 1
                    }
                }
            }
        }
    }
}
