/// Dequantization of the lattice i-quant types (connkit reads these; it does not write them), with
/// gguf-py's expressions. Layouts (f16 `d`; 256 elements per block):
///
///     iq2_xxs  66 bytes: d | qs: u32[16]        per 32 elements: u32 of 4 grid bytes, u32 of 4×7 sign bits + 4-bit scale
///     iq2_xs   74 bytes: d | qs: u16[32] | scales: u8[8]   9-bit grid index + 7-bit sign index per 8 elements
///     iq2_s    82 bytes: d | qs: u8[32] | signs: u8[32] | qh: u8[8] | scales: u8[8]
///     iq3_xxs  98 bytes: d | qs: u8[64] | u32[8] (4×7 sign bits + 4-bit scale per 32 elements)
///     iq3_s   110 bytes: d | qs: u8[64] | qh: u8[8] | signs: u8[32] | scales: u8[4]
///     iq1_s    50 bytes: d | qs: u8[32] | qh: u16[8]
///     iq1_m    56 bytes: qs: u8[32] | qh: u8[16] | scales: u16[4] (d spread over their top nibbles)
///
/// Sign bit j of a sign byte negates element j of its group of 8; `ksigns` maps 7 stored bits to 8
/// (the eighth makes the count of negatives even).
enum IQLattice {
    /// A decoded grid: `rows × width` values, row-major.
    struct Grid: Sendable {
        let width: Int
        let values: [Float]
    }

    static func decode(_ table: (rows: Int, width: Int, values: [Float], hex: String)) -> Grid {
        let bitsPerValue = table.values.count <= 4 ? 2 : 3
        let perByte = 8 / (bitsPerValue == 2 ? 2 : 4)
        let shift = bitsPerValue == 2 ? 2 : 4
        let mask = UInt8((1 << bitsPerValue) - 1)
        var bytes: [UInt8] = []
        let digits = Array(table.hex.utf8)
        bytes.reserveCapacity(digits.count / 2)
        func nibble(_ c: UInt8) -> UInt8 { (c > 0x40 ? c + 9 : c) & 0x0F }
        for i in stride(from: 0, to: digits.count - 1, by: 2) {
            bytes.append(nibble(digits[i]) << 4 | nibble(digits[i + 1]))
        }
        var values: [Float] = []
        values.reserveCapacity(table.rows * table.width)
        for byte in bytes {
            for k in 0 ..< perByte { values.append(table.values[Int((byte >> (shift * k)) & mask)]) }
        }
        precondition(values.count == table.rows * table.width, "IQ grid table has the wrong size")
        return Grid(width: table.width, values: values)
    }

    static let iq2xxs = decode(IQGridData.iq2xxs)
    static let iq2xs = decode(IQGridData.iq2xs)
    static let iq2s = decode(IQGridData.iq2s)
    static let iq3xxs = decode(IQGridData.iq3xxs)
    static let iq3s = decode(IQGridData.iq3s)
    static let iq1s = decode(IQGridData.iq1s)

    /// The 8 sign factors of a sign byte.
    @inline(__always)
    static func sign(_ bits: UInt8, _ j: Int) -> Float { (bits >> j) & 1 == 0 ? 1 : -1 }

    /// Writes `(scale * grid[index][j]) * sign(j + signShift)` for j in 0..<width (no sign: unsigned).
    @inline(__always)
    static func emit(_ grid: Grid, _ index: Int, _ scale: Float, signs: UInt8?, signShift: Int = 0,
                     into out: UnsafeMutablePointer<Float>) {
        let row = index * grid.width
        for j in 0 ..< grid.width {
            let v = scale * grid.values[row + j]
            out[j] = signs.map { v * sign($0, j + signShift) } ?? v
        }
    }

    /// iq1's form: `scale * (grid[index][j] + delta)` for the 8 values of a row.
    @inline(__always)
    static func emit(_ grid: Grid, _ index: Int, _ scale: Float, delta: Float, into out: UnsafeMutablePointer<Float>) {
        for j in 0 ..< 8 { out[j] = scale * (grid.values[8 * index + j] + delta) }
    }
}

enum IQ2_XXS: BlockDecoder {
    static let dtype = DType.iq2_xxs

    static func decode(_ block: UnsafeRawPointer, into x: UnsafeMutablePointer<Float>) {
        let grid = IQLattice.iq2xxs
        let d = block.loadF16(at: 0)
        for ib in 0 ..< 8 {
            let indices = block.loadLE(UInt32.self, at: 2 + 8 * ib)
            let aux = block.loadLE(UInt32.self, at: 6 + 8 * ib)
            let db = d * (0.5 + Float(aux >> 28)) * 0.25
            for l in 0 ..< 4 {
                let signs = IQGridData.ksigns[Int((aux >> (7 * l)) & 127)]
                IQLattice.emit(grid, Int((indices >> (8 * l)) & 255), db, signs: signs, into: x + 32 * ib + 8 * l)
            }
        }
    }
}

/// iq2_xs and iq2_s: 32 groups of 8 elements, each a grid row (`entry(k)` gives its index and signs)
/// scaled by `(d * (0.5 + scale)) * 0.25`, with a 4-bit scale per 16 elements in the bytes at `scales`.
@inline(__always)
func decodeIQ2Groups(_ block: UnsafeRawPointer, into x: UnsafeMutablePointer<Float>, grid: IQLattice.Grid, scales: Int,
                     _ entry: (Int) -> (index: Int, signs: UInt8)) {
    let d = block.loadF16(at: 0)
    for k in 0 ..< 32 {
        let scale = (block.byte(scales + k / 4) >> (4 * ((k / 2) % 2))) & 0x0F
        let (index, signs) = entry(k)
        IQLattice.emit(grid, index, d * (0.5 + Float(scale)) * 0.25, signs: signs, into: x + 8 * k)
    }
}

enum IQ2_XS: BlockDecoder {
    static let dtype = DType.iq2_xs

    static func decode(_ block: UnsafeRawPointer, into x: UnsafeMutablePointer<Float>) {
        decodeIQ2Groups(block, into: x, grid: IQLattice.iq2xs, scales: 66) { k in
            let q = block.loadLE(UInt16.self, at: 2 + 2 * k)
            return (Int(q & 511), IQGridData.ksigns[Int(q >> 9)])
        }
    }
}

enum IQ2_S: BlockDecoder {
    static let dtype = DType.iq2_s

    static func decode(_ block: UnsafeRawPointer, into x: UnsafeMutablePointer<Float>) {
        decodeIQ2Groups(block, into: x, grid: IQLattice.iq2s, scales: 74) { k in
            (Int(block.byte(2 + k)) | Int((block.byte(66 + k / 4) >> (2 * (k % 4))) & 3) << 8, block.byte(34 + k))
        }
    }
}

/// iq3_xxs and iq3_s: 64 groups of 4 elements, each a row of the 4-wide grid; `entry(k)` gives its
/// index, scale and sign byte (shared by two groups: the second takes bits 4–7).
@inline(__always)
func decodeIQ3Groups(_ block: UnsafeRawPointer, into x: UnsafeMutablePointer<Float>, grid: IQLattice.Grid,
                     _ entry: (Int) -> (index: Int, scale: Float, signs: UInt8)) {
    for k in 0 ..< 64 {
        let (index, scale, signs) = entry(k)
        IQLattice.emit(grid, index, scale, signs: signs, signShift: 4 * (k % 2), into: x + 4 * k)
    }
}

enum IQ3_XXS: BlockDecoder {
    static let dtype = DType.iq3_xxs

    static func decode(_ block: UnsafeRawPointer, into x: UnsafeMutablePointer<Float>) {
        let d = block.loadF16(at: 0)
        decodeIQ3Groups(block, into: x, grid: IQLattice.iq3xxs) { k in
            // Per 32 elements (ib): a u32 of four 7-bit sign indices (one per 8 elements) and a 4-bit scale.
            let aux = block.loadLE(UInt32.self, at: 66 + 4 * (k / 8))
            return (Int(block.byte(2 + k)), d * (0.5 + Float(aux >> 28)) * 0.5, IQGridData.ksigns[Int((aux >> (7 * (k % 8 / 2))) & 127)])
        }
    }
}

enum IQ3_S: BlockDecoder {
    static let dtype = DType.iq3_s

    static func decode(_ block: UnsafeRawPointer, into x: UnsafeMutablePointer<Float>) {
        let d = block.loadF16(at: 0)
        decodeIQ3Groups(block, into: x, grid: IQLattice.iq3s) { k in
            let ib = k / 8
            let scale = (block.byte(106 + ib / 2) >> (4 * (ib % 2))) & 0x0F
            return (Int(block.byte(2 + k)) | Int((block.byte(66 + ib) >> (k % 8)) & 1) << 8, d * Float(1 + 2 * scale),
                    block.byte(74 + k / 2))
        }
    }
}

enum IQ1_S: BlockDecoder {
    static let dtype = DType.iq1_s

    static func decode(_ block: UnsafeRawPointer, into x: UnsafeMutablePointer<Float>) {
        let d = block.loadF16(at: 0)
        for ib in 0 ..< 8 {
            let qh = block.loadLE(UInt16.self, at: 34 + 2 * ib)
            let dl = d * Float(2 * ((qh >> 12) & 7) + 1)
            let delta: Float = qh & 0x8000 == 0 ? 0.125 : -0.125
            for l in 0 ..< 4 {
                let index = Int(block.byte(2 + 4 * ib + l)) | Int((qh >> (3 * l)) & 7) << 8
                IQLattice.emit(IQLattice.iq1s, index, dl, delta: delta, into: x + 32 * ib + 8 * l)
            }
        }
    }
}

enum IQ1_M: BlockDecoder {
    static let dtype = DType.iq1_m

    static func decode(_ block: UnsafeRawPointer, into x: UnsafeMutablePointer<Float>) {
        let s = (0 ..< 4).map { block.loadLE(UInt16.self, at: 48 + 2 * $0) }
        let d = f32(fromF16: (s[0] & 0xF000) >> 12 | (s[1] & 0xF000) >> 8 | (s[2] & 0xF000) >> 4 | (s[3] & 0xF000))
        for k in 0 ..< 32 {
            // 16 three-bit scales, one per 16 elements: scale n is bits 3(n%4) of word n/4.
            let n = k / 2
            let dl = d * Float(2 * ((s[n / 4] >> (3 * (n % 4))) & 7) + 1)
            let nibble = (block.byte(32 + k / 2) >> (4 * (k % 2))) & 0x0F
            let delta: Float = nibble & 0x08 == 0 ? 0.125 : -0.125
            IQLattice.emit(IQLattice.iq1s, Int(block.byte(k)) | Int(nibble & 7) << 8, dl, delta: delta, into: x + 8 * k)
        }
    }
}
