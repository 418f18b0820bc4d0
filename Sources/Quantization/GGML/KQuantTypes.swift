import TensorFormats

/// The five k-quant types: llama.cpp's facts, ggml's search parameters (`quantize_row_*_ref`), and each
/// type's `finish` (scale encoding, f16 fields, requantization, packing) in ggml's order.
extension Q2_K: KQuantBlock { static var facts: BlockFacts { BlockFacts(bits: 2, fileType: 10, fallback: .iq4_nl, takesImportance: true) } }
extension Q3_K: KQuantBlock { static var facts: BlockFacts { BlockFacts(bits: 3, fileType: 11, fallback: .iq4_nl, takesImportance: true) } }

extension Q4_K: AsymmetricKQuant {
    static var facts: BlockFacts { BlockFacts(bits: 4, fileType: 14, fallback: .q5_0, takesImportance: true) }
    static var search: (rmin: Float, nstep: Int) { (-1, 20) }
}

extension Q5_K: AsymmetricKQuant {
    static var facts: BlockFacts { BlockFacts(bits: 5, fileType: 16, fallback: .q5_1, takesImportance: true) }
    static var search: (rmin: Float, nstep: Int) { (-0.5, 15) }
}

extension Q6_K: KQuantBlock { static var facts: BlockFacts { BlockFacts(bits: 6, fileType: 18, fallback: .q8_0, takesImportance: true) } }

extension Q2_K {
    /// `make_qkx2_quants(16, 3, x, |x|, L, &min, Laux, -0.5, 0.1, 15, true)`.
    static func searchGroup(_ x: UnsafePointer<Float>, codes: UnsafeMutablePointer<UInt8>, _ s: KQuantScratch)
        -> (scale: Float, negatedMin: Float) {
        for l in 0 ..< 16 { s.groupWeights[l] = abs(x[l]) }
        return KQuantSearch.asymmetric(16, 3, x, s.groupWeights, codes, s.trial, rmin: -0.5, rdelta: 0.1, nstep: 15, useMAD: true)
    }

    static func searchQuad(_ q: Int, _ s: KQuantScratch) -> (scale: F4, negatedMin: F4)? {
        let v = s.values + 16 * q
        let w = s.weights + 16 * q
        for l in 0 ..< 16 { w[l] = v[l].magnitude }
        return KQuantSearchSIMD.asymmetric(16, 3, v, w, s.codes + 16 * q, s.work, rmin: -0.5, rdelta: 0.1, nstep: 15, useMAD: true)
    }

    /// 4-bit scale and min codes in bytes 0..<16, d and dmin at 80 and 82, 2-bit levels at 16.
    static func finish(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ s: KQuantScratch, vector: Bool) {
        let (maxScale, maxMin) = s.largestScaleAndMin(groups: 16)
        if maxScale > 0 {
            let iscale = 15 / maxScale
            for j in 0 ..< 16 {
                y.storeBytes(of: UInt8(truncatingIfNeeded: nearestInt(iscale * s.scales[j])), toByteOffset: j, as: UInt8.self)
            }
            y.storeLE(ggmlFP16(maxScale / 15), at: 80)
        } else {
            for j in 0 ..< 16 { y.storeBytes(of: 0, toByteOffset: j, as: UInt8.self) }
            y.storeLE(ggmlFP16(0), at: 80)
        }
        if maxMin > 0 {
            let iscale = 15 / maxMin
            for j in 0 ..< 16 {
                let l = nearestInt(iscale * s.mins[j])
                let old = y.load(fromByteOffset: j, as: UInt8.self)
                y.storeBytes(of: old | UInt8(truncatingIfNeeded: l &<< 4), toByteOffset: j, as: UInt8.self)
            }
            y.storeLE(ggmlFP16(maxMin / 15), at: 82)
        } else {
            y.storeLE(ggmlFP16(0), at: 82)
        }
        storeCodes(x, y, s, vector: vector)
    }

    /// With the scale bytes, d and dmin stored: requantizes each group with its encoded scale and min
    /// (the search codes stand where the scale is 0) and packs the levels.
    static func storeCodes(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ s: KQuantScratch, vector: Bool) {
        let d = UnsafeRawPointer(y).loadF16(at: 80)
        let dmin = UnsafeRawPointer(y).loadF16(at: 82)
        for j in 0 ..< 16 {
            let sc = y.load(fromByteOffset: j, as: UInt8.self)
            let dl = d * Float(sc & 0xF)
            if dl == 0 { continue }
            requantize(x + 16 * j, 16, offset: dmin * Float(sc >> 4), scale: dl, low: 0, high: 3, bias: 0,
                       into: s.levels + 16 * j, vector: vector)
        }
        pack2Bit(s.levels, into: y + 16)
    }
}

extension Q3_K {
    /// `make_q3_quants(16, 4, x, L, true)`.
    static func searchGroup(_ x: UnsafePointer<Float>, codes: UnsafeMutablePointer<UInt8>, _ s: KQuantScratch)
        -> (scale: Float, negatedMin: Float) {
        (codes.withMemoryRebound(to: Int8.self, capacity: 16) { KQuantSearch.symmetricRefined(16, 4, x, $0) }, 0)
    }

    static func searchQuad(_ q: Int, _ s: KQuantScratch) -> (scale: F4, negatedMin: F4)? {
        KQuantSearchSIMD.symmetricRefined(16, 4, s.values + 16 * q, s.codes + 16 * q, s.work).map { ($0, F4()) }
    }

    /// hmask (bit 2 of the levels) in bytes 0..<32, 2-bit levels at 32, 6-bit scale codes at 96, d at 108.
    static func finish(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ s: KQuantScratch, vector: Bool) {
        let (_, maxScale) = signedAbsMax(s.scales, 16)
        let codes = y + 96
        for k in 0 ..< 12 { codes.storeBytes(of: 0, toByteOffset: k, as: UInt8.self) }
        if maxScale != 0 {
            let iscale = -32 / maxScale
            for j in 0 ..< 16 {
                let l = Int8(truncatingIfNeeded: nearestInt(iscale * s.scales[j]))
                packScaleCode(j, UInt8(bitPattern: max(-32, min(31, l)) + 32), into: codes)
            }
            y.storeLE(ggmlFP16(1 / iscale), at: 108)
        } else {
            y.storeLE(ggmlFP16(0), at: 108)
        }
        storeCodes(x, y, s, vector: vector)
    }

    /// ORs group j's 6-bit scale code (0...63) into the twelve zeroed scale bytes: the low nibble in byte
    /// j (j < 8) or the high nibble of byte j - 8, the top two bits in byte 8 + j % 4 at bit 2·(j / 4).
    @inline(__always)
    static func packScaleCode(_ j: Int, _ l: UInt8, into codes: UnsafeMutableRawPointer) {
        if j < 8 {
            codes.storeBytes(of: l & 0xF, toByteOffset: j, as: UInt8.self)
        } else {
            let old = codes.load(fromByteOffset: j - 8, as: UInt8.self)
            codes.storeBytes(of: old | ((l & 0xF) << 4), toByteOffset: j - 8, as: UInt8.self)
        }
        let old = codes.load(fromByteOffset: 8 + j % 4, as: UInt8.self)
        codes.storeBytes(of: old | ((l >> 4) << (2 * (j / 4))), toByteOffset: 8 + j % 4, as: UInt8.self)
    }

    /// With the scale codes and d stored: requantizes each group with its encoded scale (the search codes
    /// stand where it is 0), then writes hmask and the 2-bit levels.
    static func storeCodes(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ s: KQuantScratch, vector: Bool) {
        let codes = y + 96
        let dAll = UnsafeRawPointer(y).loadF16(at: 108)
        for j in 0 ..< 16 {
            let d = dAll * Float(Int8(bitPattern: scaleCode(j, codes)) - 32)
            if d == 0 { continue }
            requantize(x + 16 * j, 16, offset: nil, scale: d, low: -4, high: 3, bias: 4, into: s.levels + 16 * j, vector: vector)
        }
        // Levels are 0...7: bit 2 of level 32k + m goes to bit k of hmask[m], the low two bits to the
        // 2-bit packing. Eight levels per 64-bit word, one bit plane at a time.
        let words = UnsafeMutableRawPointer(s.levels)
        var hmask: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        for k in 0 ..< 8 {
            @_transparent func plane(_ t: Int) -> UInt64 {
                let w = words.load(fromByteOffset: 32 * k + 8 * t, as: UInt64.self)
                words.storeBytes(of: w & 0x0303_0303_0303_0303, toByteOffset: 32 * k + 8 * t, as: UInt64.self)
                return ((w >> 2) & 0x0101_0101_0101_0101) << k
            }
            hmask.0 |= plane(0)
            hmask.1 |= plane(1)
            hmask.2 |= plane(2)
            hmask.3 |= plane(3)
        }
        y.storeBytes(of: hmask.0, toByteOffset: 0, as: UInt64.self)
        y.storeBytes(of: hmask.1, toByteOffset: 8, as: UInt64.self)
        y.storeBytes(of: hmask.2, toByteOffset: 16, as: UInt64.self)
        y.storeBytes(of: hmask.3, toByteOffset: 24, as: UInt64.self)
        pack2Bit(s.levels, into: y + 32)
    }
}

/// q4_k and q5_k: eight groups of 32 with a scale and a min each, 6-bit codes for both (`get_scale_min_k4`'s
/// layout), f16 d and dmin; they differ in the code width (4 or 5 bits, the fifth in a `qh` plane) and the
/// search's range.
protocol AsymmetricKQuant: KQuantBlock {
    /// `make_qkx2_quants`'s `rmin` and `nstep` for the type.
    static var search: (rmin: Float, nstep: Int) { get }
}

extension AsymmetricKQuant {
    static var groupSize: Int { 32 }

    /// `make_qkx2_quants(32, 2^bits - 1, x, av_x + |x|, L, &min, Laux, rmin, 0.1, nstep, false)`.
    static func searchGroup(_ x: UnsafePointer<Float>, codes: UnsafeMutablePointer<UInt8>, _ s: KQuantScratch)
        -> (scale: Float, negatedMin: Float) {
        let avX = (KQuantSearch.sumOfSquares(32, x) / 32).squareRoot()
        for l in 0 ..< 32 { s.groupWeights[l] = avX + abs(x[l]) }
        return KQuantSearch.asymmetric(32, Int32((1 << bits) - 1), x, s.groupWeights, codes, s.trial,
                                       rmin: search.rmin, rdelta: 0.1, nstep: search.nstep, useMAD: false)
    }

    static func searchQuad(_ q: Int, _ s: KQuantScratch) -> (scale: F4, negatedMin: F4)? {
        let v = s.values + 32 * q
        let w = s.weights + 32 * q
        var sumX2 = F4()
        for l in 0 ..< 32 { sumX2 += v[l] * v[l] }
        let mean = sumX2 / 32
        let avX = F4(mean.x.squareRoot(), mean.y.squareRoot(), mean.z.squareRoot(), mean.w.squareRoot())
        for l in 0 ..< 32 { w[l] = avX + v[l].magnitude }
        return KQuantSearchSIMD.asymmetric(32, Float((1 << bits) - 1), v, w, s.codes + 32 * q, s.work,
                                           rmin: search.rmin, rdelta: 0.1, nstep: search.nstep, useMAD: false)
    }

    /// d and dmin at 0 and 2, scale and min codes at 4, [qh at 16,] low nibbles at 16 (q4_k) or 48 (q5_k).
    static func finish(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ s: KQuantScratch, vector: Bool) {
        let (maxScale, maxMin) = s.largestScaleAndMin(groups: 8)
        let invScale: Float = maxScale > 0 ? 63 / maxScale : 0
        let invMin: Float = maxMin > 0 ? 63 / maxMin : 0
        var scaleCodes: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &scaleCodes) { codes in
            for j in 0 ..< 8 {
                codes[j] = min(63, UInt8(truncatingIfNeeded: nearestInt(invScale * s.scales[j])))
                codes[8 + j] = min(63, UInt8(truncatingIfNeeded: nearestInt(invMin * s.mins[j])))
            }
            packScaleMin(codes.baseAddress!.assumingMemoryBound(to: UInt8.self), into: y + 4)
        }
        y.storeLE(ggmlFP16(maxScale / 63), at: 0)
        y.storeLE(ggmlFP16(maxMin / 63), at: 2)
        storeCodes(x, y, s, vector: vector)
    }

    /// With d, dmin and the scale and min codes stored: requantizes each group with them (the search codes
    /// stand where the scale is 0) and packs the levels.
    static func storeCodes(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ s: KQuantScratch, vector: Bool) {
        let bits = bits
        let d = UnsafeRawPointer(y).loadF16(at: 0)
        let dmin = UnsafeRawPointer(y).loadF16(at: 2)
        for j in 0 ..< 8 {
            let (sc, m) = KQuantLayout.scaleMin(j, y + 4)
            let dl = d * Float(sc)
            if dl == 0 { continue }
            requantize(x + 32 * j, 32, offset: dmin * Float(m), scale: dl, low: 0, high: Int32((1 << bits) - 1), bias: 0,
                       into: s.levels + 32 * j, vector: vector)
        }
        let codes = s.levels
        if bits == 4 {
            for c in 0 ..< 4 {
                for l in 0 ..< 32 {
                    y.storeBytes(of: codes[64 * c + l] | (codes[64 * c + l + 32] << 4), toByteOffset: 16 + 32 * c + l, as: UInt8.self)
                }
            }
            return
        }
        for l in 0 ..< 32 {
            var qh: UInt8 = 0
            for c in 0 ..< 4 {
                let l1 = codes[64 * c + l]
                let l2 = codes[64 * c + l + 32]
                qh |= (l1 >> 4) << (2 * c) | (l2 >> 4) << (2 * c + 1)
                y.storeBytes(of: (l1 & 15) | ((l2 & 15) << 4), toByteOffset: 48 + 32 * c + l, as: UInt8.self)
            }
            y.storeBytes(of: qh, toByteOffset: 16 + l, as: UInt8.self)
        }
    }

    /// Packs the 6-bit scale codes (bytes 0..<8) and min codes (bytes 8..<16) of the eight groups in
    /// `get_scale_min_k4`'s layout.
    @inline(__always)
    static func packScaleMin(_ codes: UnsafePointer<UInt8>, into q: UnsafeMutableRawPointer) {
        for j in 0 ..< 8 {
            let ls = codes[j]
            let lm = codes[8 + j]
            if j < 4 {
                q.storeBytes(of: ls, toByteOffset: j, as: UInt8.self)
                q.storeBytes(of: lm, toByteOffset: j + 4, as: UInt8.self)
            } else {
                q.storeBytes(of: (ls & 0xF) | ((lm & 0xF) << 4), toByteOffset: j + 4, as: UInt8.self)
                let low = q.load(fromByteOffset: j - 4, as: UInt8.self)
                q.storeBytes(of: low | ((ls >> 4) << 6), toByteOffset: j - 4, as: UInt8.self)
                let high = q.load(fromByteOffset: j, as: UInt8.self)
                q.storeBytes(of: high | ((lm >> 4) << 6), toByteOffset: j, as: UInt8.self)
            }
        }
    }
}

extension Q6_K {
    /// `make_qx_quants(16, 32, x, L, 1, NULL)`.
    static func searchGroup(_ x: UnsafePointer<Float>, codes: UnsafeMutablePointer<UInt8>, _ s: KQuantScratch)
        -> (scale: Float, negatedMin: Float) {
        (KQuantSearch.symmetric(16, 32, x, codes), 0)
    }

    static func searchQuad(_ q: Int, _ s: KQuantScratch) -> (scale: F4, negatedMin: F4)? {
        KQuantSearchSIMD.symmetric(16, 32, s.values + 16 * q, s.codes + 16 * q).map { ($0, F4()) }
    }

    /// ql (low nibbles) in bytes 0..<128, qh (high 2 bits) at 128, int8 scale codes at 192, d at 208; an
    /// all-zero block when every group is (below ggml's GROUP_MAX_EPS).
    static func finish(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ s: KQuantScratch, vector: Bool) {
        let (maxAbsScale, maxScale) = signedAbsMax(s.scales, 16)
        if maxAbsScale < KQuantSearch.groupMaxEpsilon {
            y.initializeMemory(as: UInt8.self, repeating: 0, count: dtype.layout.blockBytes)
            return
        }
        let iscale = -128 / maxScale
        y.storeLE(ggmlFP16(1 / iscale), at: 208)
        for ib in 0 ..< 16 {
            let code = Int8(truncatingIfNeeded: min(127, nearestInt(iscale * s.scales[ib])))
            y.storeBytes(of: UInt8(bitPattern: code), toByteOffset: 192 + ib, as: UInt8.self)
        }
        let dAll = UnsafeRawPointer(y).loadF16(at: 208)
        for j in 0 ..< 16 {
            let d = dAll * Float(Int8(bitPattern: y.load(fromByteOffset: 192 + j, as: UInt8.self)))
            if d == 0 { continue }
            requantize(x + 16 * j, 16, offset: nil, scale: d, low: -32, high: 31, bias: 32, into: s.levels + 16 * j, vector: vector)
        }
        let levels = s.levels
        for h in 0 ..< 2 {
            for l in 0 ..< 32 {
                let e = 128 * h + l
                let q1 = levels[e] & 0xF, q2 = levels[e + 32] & 0xF, q3 = levels[e + 64] & 0xF, q4 = levels[e + 96] & 0xF
                y.storeBytes(of: q1 | (q3 << 4), toByteOffset: 64 * h + l, as: UInt8.self)
                y.storeBytes(of: q2 | (q4 << 4), toByteOffset: 64 * h + l + 32, as: UInt8.self)
                let high = (levels[e] >> 4) | ((levels[e + 32] >> 4) << 2) | ((levels[e + 64] >> 4) << 4) | ((levels[e + 96] >> 4) << 6)
                y.storeBytes(of: high, toByteOffset: 128 + 32 * h + l, as: UInt8.self)
            }
        }
    }
}
