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

    /// Writes `(scale * grid[index][j]) * sign(j)` for j in 0..<width.
    @inline(__always)
    static func emit(_ grid: Grid, _ index: Int, _ scale: Float, signs: UInt8?, into out: UnsafeMutablePointer<Float>) {
        let row = index * grid.width
        for j in 0 ..< grid.width {
            let v = scale * grid.values[row + j]
            out[j] = signs.map { v * sign($0, j) } ?? v
        }
    }
}

enum IQ2_XXS {
    static func dequantize(_ y: UnsafeRawPointer, _ x: UnsafeMutablePointer<Float>, blocks: Int) {
        let grid = IQLattice.iq2xxs
        for i in 0 ..< blocks {
            let yb = y + 66 * i
            let d = yb.loadF16(at: 0)
            for ib in 0 ..< 8 {
                let indices = yb.loadLE(UInt32.self, at: 2 + 8 * ib)
                let aux = yb.loadLE(UInt32.self, at: 6 + 8 * ib)
                let db = d * (0.5 + Float(aux >> 28)) * 0.25
                for l in 0 ..< 4 {
                    let signs = IQGridData.ksigns[Int((aux >> (7 * l)) & 127)]
                    IQLattice.emit(grid, Int((indices >> (8 * l)) & 255), db, signs: signs, into: x + 256 * i + 32 * ib + 8 * l)
                }
            }
        }
    }
}

enum IQ2_XS {
    static func dequantize(_ y: UnsafeRawPointer, _ x: UnsafeMutablePointer<Float>, blocks: Int) {
        let grid = IQLattice.iq2xs
        for i in 0 ..< blocks {
            let yb = y + 74 * i
            let d = yb.loadF16(at: 0)
            for k in 0 ..< 32 {
                let q = yb.loadLE(UInt16.self, at: 2 + 2 * k)
                let scale = (yb.byte(66 + k / 4) >> (4 * ((k / 2) % 2))) & 0x0F
                let db = d * (0.5 + Float(scale)) * 0.25
                IQLattice.emit(grid, Int(q & 511), db, signs: IQGridData.ksigns[Int(q >> 9)], into: x + 256 * i + 8 * k)
            }
        }
    }
}

enum IQ2_S {
    static func dequantize(_ y: UnsafeRawPointer, _ x: UnsafeMutablePointer<Float>, blocks: Int) {
        let grid = IQLattice.iq2s
        for i in 0 ..< blocks {
            let yb = y + 82 * i
            let d = yb.loadF16(at: 0)
            for k in 0 ..< 32 {
                let high = Int((yb.byte(66 + k / 4) >> (2 * (k % 4))) & 3) << 8
                let scale = (yb.byte(74 + k / 4) >> (4 * ((k / 2) % 2))) & 0x0F
                let db = d * (0.5 + Float(scale)) * 0.25
                IQLattice.emit(grid, Int(yb.byte(2 + k)) | high, db, signs: yb.byte(34 + k), into: x + 256 * i + 8 * k)
            }
        }
    }
}

enum IQ3_XXS {
    static func dequantize(_ y: UnsafeRawPointer, _ x: UnsafeMutablePointer<Float>, blocks: Int) {
        let grid = IQLattice.iq3xxs
        for i in 0 ..< blocks {
            let yb = y + 98 * i
            let d = yb.loadF16(at: 0)
            for ib in 0 ..< 8 {
                let aux = yb.loadLE(UInt32.self, at: 66 + 4 * ib)
                let db = d * (0.5 + Float(aux >> 28)) * 0.5
                for l in 0 ..< 4 {
                    let signs = IQGridData.ksigns[Int((aux >> (7 * l)) & 127)]
                    for half in 0 ..< 2 {
                        let index = Int(yb.byte(2 + 8 * ib + 2 * l + half))
                        let out = x + 256 * i + 32 * ib + 8 * l + 4 * half
                        for j in 0 ..< 4 {
                            out[j] = (db * grid.values[4 * index + j]) * IQLattice.sign(signs, 4 * half + j)
                        }
                    }
                }
            }
        }
    }
}

enum IQ3_S {
    static func dequantize(_ y: UnsafeRawPointer, _ x: UnsafeMutablePointer<Float>, blocks: Int) {
        let grid = IQLattice.iq3s
        for i in 0 ..< blocks {
            let yb = y + 110 * i
            let d = yb.loadF16(at: 0)
            for k in 0 ..< 64 {
                let ib = k / 8
                let index = Int(yb.byte(2 + k)) | Int((yb.byte(66 + ib) >> (k % 8)) & 1) << 8
                let scale = (yb.byte(106 + ib / 2) >> (4 * (ib % 2))) & 0x0F
                let db = d * Float(1 + 2 * scale)
                let signs = yb.byte(74 + k / 2)
                let out = x + 256 * i + 4 * k
                for j in 0 ..< 4 {
                    out[j] = (db * grid.values[4 * index + j]) * IQLattice.sign(signs, 4 * (k % 2) + j)
                }
            }
        }
    }
}

enum IQ1_S {
    static func dequantize(_ y: UnsafeRawPointer, _ x: UnsafeMutablePointer<Float>, blocks: Int) {
        let grid = IQLattice.iq1s
        for i in 0 ..< blocks {
            let yb = y + 50 * i
            let d = yb.loadF16(at: 0)
            for ib in 0 ..< 8 {
                let qh = yb.loadLE(UInt16.self, at: 34 + 2 * ib)
                let dl = d * Float(2 * ((qh >> 12) & 7) + 1)
                let delta: Float = qh & 0x8000 == 0 ? 0.125 : -0.125
                for l in 0 ..< 4 {
                    let index = (Int(yb.byte(2 + 4 * ib + l)) | Int((qh >> (3 * l)) & 7) << 8) * 8
                    let out = x + 256 * i + 32 * ib + 8 * l
                    for j in 0 ..< 8 { out[j] = dl * (grid.values[index + j] + delta) }
                }
            }
        }
    }
}

enum IQ1_M {
    static func dequantize(_ y: UnsafeRawPointer, _ x: UnsafeMutablePointer<Float>, blocks: Int) {
        let grid = IQLattice.iq1s
        for i in 0 ..< blocks {
            let yb = y + 56 * i
            let s = (0 ..< 4).map { yb.loadLE(UInt16.self, at: 48 + 2 * $0) }
            let dBits = (s[0] & 0xF000) >> 12 | (s[1] & 0xF000) >> 8 | (s[2] & 0xF000) >> 4 | (s[3] & 0xF000)
            let d = f32(fromF16: dBits)
            for k in 0 ..< 32 {
                // 16 three-bit scales, one per 16 elements: scale n is bits 3(n%4) of word n/4.
                let n = k / 2
                let scale = (s[n / 4] >> (3 * (n % 4))) & 7
                let dl = d * Float(2 * scale + 1)
                let nibble = (yb.byte(32 + k / 2) >> (4 * (k % 2))) & 0x0F
                let delta: Float = nibble & 0x08 == 0 ? 0.125 : -0.125
                let index = (Int(yb.byte(k)) | Int(nibble & 7) << 8) * 8
                let out = x + 256 * i + 8 * k
                for j in 0 ..< 8 { out[j] = dl * (grid.values[index + j] + delta) }
            }
        }
    }
}
