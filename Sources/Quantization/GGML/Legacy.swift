import TensorFormats

/// The legacy 32-element ggml block types (layouts and decoders: TensorFormats' `Blocks/LegacyBlocks.swift`).
/// Each type's kernels: the reference below, the Swift kernel in LegacySIMD.swift, the C kernel in
/// `CConnkit/quant_legacy.c`.
extension Q8_0: LegacyBlock { static var facts: BlockFacts { BlockFacts(bits: 8, fileType: 7, takesImportance: false) } }
extension Q4_0: SymmetricLegacy { static var facts: BlockFacts { BlockFacts(bits: 4, fileType: 2, takesImportance: true) } }
extension Q5_0: SymmetricLegacy { static var facts: BlockFacts { BlockFacts(bits: 5, fileType: 8, takesImportance: true) } }
extension Q4_1: AffineLegacy { static var facts: BlockFacts { BlockFacts(bits: 4, fileType: 3, takesImportance: true) } }
extension Q5_1: AffineLegacy { static var facts: BlockFacts { BlockFacts(bits: 5, fileType: 9, takesImportance: true) } }

// The references transcribe ggml-quants.c's `quantize_row_*_ref` for one block, including C's float ->
// int8 conversion as the x86-64 reference build performs it; the fast kernels must give the same bytes.

extension Q8_0 {
    /// `quantize_row_q8_0_ref`: d = max|x| / 127, code = roundf(x / d).
    static func quantizeBlockReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        let n = dtype.layout.blockElements
        var amax: Float = 0
        for j in 0 ..< n {
            let a = abs(x[j])
            amax = amax > a ? amax : a
        }
        let d = amax / 127
        let id: Float = d != 0 ? 1 / d : 0
        y.storeLE(ggmlFP16(d), at: 0)
        for j in 0 ..< n {
            let q = x86Truncate(cRound(x[j] * id))
            y.storeBytes(of: UInt8(truncatingIfNeeded: q), toByteOffset: 2 + j, as: UInt8.self)
        }
    }
}

/// Stores a nibble type's codes after its `header` bytes of f16 fields: [u32 qh (bit j = bit 4 of code
/// j),] then byte j = low nibble of code j | low nibble of code j + n/2 << 4.
@inline(__always)
func storeLegacyCodes(_ y: UnsafeMutableRawPointer, header: Int, bits: Int, count n: Int, _ code: (Int) -> UInt8) {
    let qs = bits == 5 ? header + 4 : header
    var qh: UInt32 = 0
    for j in 0 ..< n / 2 {
        let q0 = code(j)
        let q1 = code(n / 2 + j)
        y.storeBytes(of: (q0 & 15) | (q1 & 15) &<< 4, toByteOffset: qs + j, as: UInt8.self)
        qh |= UInt32((q0 & 0x10) >> 4) << j
        qh |= UInt32((q1 & 0x10) >> 4) << (j + n / 2)
    }
    if bits == 5 { y.storeLE(qh, at: header) }
}

extension SymmetricLegacy {
    /// `quantize_row_q4_0_ref` / `quantize_row_q5_0_ref`: d = max / -2^(bits-1) with max the value of
    /// largest magnitude, code = MIN(2^bits - 1, (int8_t)(x / d + 2^(bits-1) + 0.5)).
    static func quantizeBlockReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        let n = dtype.layout.blockElements
        let half = Float(1 << (bits - 1))
        let (_, max) = signedAbsMax(x, n)
        let d = max / -half
        let id: Float = d != 0 ? 1 / d : 0
        y.storeLE(ggmlFP16(d), at: 0)
        let top = Int32(1 << bits) - 1
        storeLegacyCodes(y, header: 2, bits: bits, count: n) { j in
            UInt8(truncatingIfNeeded: min(top, Int32(Int8(truncatingIfNeeded: x86Truncate(x[j] * id + (half + 0.5))))))
        }
    }
}

extension AffineLegacy {
    /// `quantize_row_q4_1_ref` / `quantize_row_q5_1_ref`: d = (max - min) / (2^bits - 1),
    /// code = (int8_t)((x - min) / d + 0.5), q4_1 with MIN(15, ·), q5_1 as `(uint8_t)` with no clamp.
    static func quantizeBlockReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        let n = dtype.layout.blockElements
        var min = Float.greatestFiniteMagnitude
        var max = -Float.greatestFiniteMagnitude
        for j in 0 ..< n {
            let v = x[j]
            if v < min { min = v }
            if v > max { max = v }
        }
        let d = (max - min) / Float((1 << bits) - 1)
        let id: Float = d != 0 ? 1 / d : 0
        y.storeLE(ggmlFP16(d), at: 0)
        y.storeLE(ggmlFP16(min), at: 2)
        storeLegacyCodes(y, header: 4, bits: bits, count: n) { j in
            let q = x86Truncate((x[j] - min) * id + 0.5)
            return UInt8(truncatingIfNeeded: bits == 4 ? Swift.min(15, Int32(Int8(truncatingIfNeeded: q))) : q)
        }
    }
}

// ggml's weighted legacy quantizers (`quantize_row_q4_0_impl` … `quantize_row_q5_1_impl` given
// `quant_weights`): one spread statistic over the whole row, sigma2 = Σx² / n_per_row, weights
// qw·sqrtf(sigma2 + x²), then the k-quants' searches for each block.

/// sigma2 of a row and, for each block, its importance weights: `body(block, weights)`.
@inline(__always)
func forEachWeightedBlock(_ x: UnsafePointer<Float>, rowLength: Int, blockElements n: Int, importance: UnsafePointer<Float>,
                          _ body: (Int, UnsafePointer<Float>) -> Void) {
    let sigma2 = KQuantSearch.sumOfSquares(rowLength, x) / Float(rowLength)
    withUnsafeTemporaryAllocation(of: Float.self, capacity: n) { weights in
        for block in 0 ..< rowLength / n {
            KQuantSearch.importanceWeights(n, x + n * block, importance: importance + n * block, sigma2: sigma2,
                                           into: weights.baseAddress!)
            body(block, weights.baseAddress!)
        }
    }
}

extension SymmetricLegacy {
    /// `make_qx_quants(32, 2^(bits-1), x, L, 1, weights)` per block: d = its scale, codes its L.
    static func quantizeRowReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, rowLength: Int,
                                     importance: UnsafePointer<Float>) {
        let (n, bytes) = dtype.layout
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: n) { codes in
            forEachWeightedBlock(x, rowLength: rowLength, blockElements: n, importance: importance) { block, weights in
                let yb = y + bytes * block
                let d = KQuantSearch.symmetric(n, Int32(1 << (bits - 1)), x + n * block, codes.baseAddress!, weights: weights)
                yb.storeLE(ggmlFP16(d), at: 0)
                storeLegacyCodes(yb, header: 2, bits: bits, count: n) { codes[$0] }
            }
        }
    }
}

extension Q4_1: WeightedKernels {}
extension Q5_1: WeightedKernels {}

extension AffineLegacy {
    /// `make_qkx3_quants(32, 2^bits - 1, x, weights, L, &min, Laux, -0.9, 0.05, 36, false)` per block:
    /// d = its scale, m = -min, codes its L. `vector`: whole quads of blocks through `KQuantSearchSIMD.asymmetricWeighted`, and the scalar search
    /// for a quad it cannot do exactly and for the last blocks.
    static func quantizeRowWeighted(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, rowLength: Int,
                                    importance: UnsafePointer<Float>, vector: Bool) {
        let (n, bytes) = dtype.layout
        let nmax = Int32((1 << bits) - 1)
        let sigma2 = KQuantSearch.sumOfSquares(rowLength, x) / Float(rowLength)
        let s = KQuantScratch()
        defer { s.deallocate() }
        func store(_ block: Int, _ d: Float, _ negatedMin: Float, _ levels: UnsafePointer<UInt8>) {
            let yb = y + bytes * block
            yb.storeLE(ggmlFP16(d), at: 0)
            yb.storeLE(ggmlFP16(-negatedMin), at: 2)
            storeLegacyCodes(yb, header: 4, bits: bits, count: n) { levels[$0] }
        }
        func scalar(_ block: Int) {
            let xb = x + n * block
            KQuantSearch.importanceWeights(n, xb, importance: importance + n * block, sigma2: sigma2, into: s.groupWeights)
            let (d, negatedMin) = KQuantSearch.asymmetric(n, nmax, xb, s.groupWeights, s.levels, s.trial,
                                                          rmin: -0.9, rdelta: 0.05, nstep: 36, useMAD: false)
            store(block, d, negatedMin, s.levels)
        }
        let blocks = rowLength / n
        var block = 0
        while vector, block + 4 <= blocks {
            s.transpose(x + n * block, groupSize: n, groups: 4)
            s.transpose(importance + n * block, groupSize: n, groups: 4, into: s.weights)
            if let (scale, negatedMin, _) = KQuantSearchSIMD.asymmetricWeighted(n, nmax, s.values, s.weights, sigma2: sigma2,
                                                                               s.codes, s.work) {
                s.storeLevels(quad: 0, groupSize: n)
                for lane in 0 ..< 4 { store(block + lane, scale[lane], negatedMin[lane], s.levels + n * lane) }
            } else {
                for b in block ..< block + 4 { scalar(b) }
            }
            block += 4
        }
        for b in block ..< blocks { scalar(b) }
    }
}
