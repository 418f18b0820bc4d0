import TensorFormats

/// Fast kernels for the k-quants: the per-group scale searches (the bulk of the work) run on four
/// groups at once with `KQuantSearchSIMD`; the per-super-block steps that follow (scale codes, f16
/// fields, requantization, packing) are the reference's, with the requantization vectorised along the
/// elements. A super-block whose search leaves the exact range of the vector shortcuts goes through
/// `quantizeReference` instead. Every step keeps the reference's float32 operations and order.

/// Scratch vectors for one super-block: transposed values, weights, codes and the search's work area.
struct KQuantScratch {
    let values: UnsafeMutablePointer<F4>
    let weights: UnsafeMutablePointer<F4>
    let codes: UnsafeMutablePointer<F4>
    let work: UnsafeMutablePointer<F4>
    let levels: UnsafeMutablePointer<UInt8>

    init() {
        values = .allocate(capacity: 64)
        weights = .allocate(capacity: 64)
        codes = .allocate(capacity: 64)
        work = .allocate(capacity: 32)
        levels = .allocate(capacity: 256)
    }

    func deallocate() {
        values.deallocate()
        weights.deallocate()
        codes.deallocate()
        work.deallocate()
        levels.deallocate()
    }

    /// Lays out `groups` groups of `n` values (group g at x[n*g...]) as quads: `values[n*q + i]` lane l
    /// is element i of group 4q + l.
    @inline(__always)
    func transpose(_ x: UnsafePointer<Float>, groupSize n: Int, groups: Int) {
        for q in 0 ..< groups / 4 {
            let g = x + n * 4 * q
            for i in 0 ..< n {
                values[n * q + i] = F4(g[i], g[n + i], g[2 * n + i], g[3 * n + i])
            }
        }
    }

    /// The search codes of quad q back in element order: levels[n*g + i] for group g = 4q + lane.
    @inline(__always)
    func storeLevels(quad q: Int, groupSize n: Int) {
        for i in 0 ..< n {
            let c = SIMD4<UInt8>(truncatingIfNeeded: codes[n * q + i].nearestInt)
            let base = n * 4 * q + i
            levels[base] = c.x
            levels[base + n] = c.y
            levels[base + 2 * n] = c.z
            levels[base + 3 * n] = c.w
        }
    }
}

/// Requantizes `n` values (a multiple of 4) as `clamp(nearest_int((x + offset) / scale), low, high)`
/// into `levels` (adding `bias`), with the exact bit-level nearest_int.
@inline(__always)
private func requantize(_ x: UnsafePointer<Float>, _ n: Int, offset: Float?, scale: Float, low: Float, high: Float,
                        bias: Float, into levels: UnsafeMutablePointer<UInt8>) {
    var i = 0
    while i < n {
        var v = x.load4(i)
        if let offset { v = v + offset }
        let l = KQuantSearchSIMD.clamp(F4((v / scale).nearestInt), low, high) + bias
        let codes = SIMD4<UInt8>(truncatingIfNeeded: l.nearestInt)
        levels[i] = codes.x
        levels[i + 1] = codes.y
        levels[i + 2] = codes.z
        levels[i + 3] = codes.w
        i += 4
    }
}

extension AsymmetricK {
    /// q4_k (bits 4) and q5_k (bits 5).
    static func quantize(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int, bits: Int) {
        let nmax: Float = bits == 4 ? 15 : 31
        let rmin: Float = bits == 4 ? -1 : -0.5
        let nstep = bits == 4 ? 20 : 15
        let blockBytes = bits == 4 ? 144 : 176
        let scratch = KQuantScratch()
        defer { scratch.deallocate() }
        var scales = (F4(), F4())
        var mins = (F4(), F4())
        var scale = [Float](repeating: 0, count: 8)
        var min = [Float](repeating: 0, count: 8)
        for i in 0 ..< blocks {
            let xb = x + 256 * i
            let yb = y + blockBytes * i
            scratch.transpose(xb, groupSize: 32, groups: 8)
            var failed = false
            for q in 0 ..< 2 {
                let v = scratch.values + 32 * q
                let w = scratch.weights + 32 * q
                var sumX2 = F4()
                for l in 0 ..< 32 { sumX2 += v[l] * v[l] }
                let mean = sumX2 / 32
                let avX = F4(mean.x.squareRoot(), mean.y.squareRoot(), mean.z.squareRoot(), mean.w.squareRoot())
                for l in 0 ..< 32 { w[l] = avX + v[l].magnitude }
                guard let (scale, negatedMin) = KQuantSearchSIMD.asymmetric(
                    32, nmax, v, w, scratch.codes + 32 * q, scratch.work, rmin: rmin, rdelta: 0.1, nstep: nstep, useMAD: false)
                else {
                    failed = true
                    break
                }
                if q == 0 { (scales.0, mins.0) = (scale, negatedMin) } else { (scales.1, mins.1) = (scale, negatedMin) }
                scratch.storeLevels(quad: q, groupSize: 32)
            }
            if failed {
                quantizeReference(xb, yb, blocks: 1, bits: bits)
                continue
            }
            for lane in 0 ..< 4 {
                scale[lane] = scales.0[lane]
                scale[4 + lane] = scales.1[lane]
                min[lane] = mins.0[lane]
                min[4 + lane] = mins.1[lane]
            }
            var maxScale: Float = 0
            var maxMin: Float = 0
            for j in 0 ..< 8 {
                if scale[j] > maxScale { maxScale = scale[j] }
                if min[j] > maxMin { maxMin = min[j] }
            }
            let invScale: Float = maxScale > 0 ? 63 / maxScale : 0
            let invMin: Float = maxMin > 0 ? 63 / maxMin : 0
            var scaleCodes: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0, 0, 0)
            var minCodes = scaleCodes
            withUnsafeMutableBytes(of: &scaleCodes) { sc in
                withUnsafeMutableBytes(of: &minCodes) { mc in
                    for j in 0 ..< 8 {
                        sc[j] = Swift.min(63, UInt8(truncatingIfNeeded: nearestInt(invScale * scale[j])))
                        mc[j] = Swift.min(63, UInt8(truncatingIfNeeded: nearestInt(invMin * min[j])))
                    }
                    KQuantLayout.packScaleMin(sc.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                              mc.baseAddress!.assumingMemoryBound(to: UInt8.self), into: yb + 4)
                }
            }
            yb.storeLE(ggmlFP16(maxScale / 63), at: 0)
            yb.storeLE(ggmlFP16(maxMin / 63), at: 2)
            let d = UnsafeRawPointer(yb).loadF16(at: 0)
            let dmin = UnsafeRawPointer(yb).loadF16(at: 2)
            for j in 0 ..< 8 {
                let (sc, m) = KQuantLayout.scaleMin(j, yb + 4)
                let dl = d * Float(sc)
                if dl == 0 { continue }
                requantize(xb + 32 * j, 32, offset: dmin * Float(m), scale: dl, low: 0, high: nmax, bias: 0,
                           into: scratch.levels + 32 * j)
            }
            packAsymmetric(scratch.levels, into: yb, bits: bits)
        }
    }

    @inline(__always)
    static func packAsymmetric(_ codes: UnsafePointer<UInt8>, into yb: UnsafeMutableRawPointer, bits: Int) {
        if bits == 4 {
            for c in 0 ..< 4 {
                for l in 0 ..< 32 {
                    yb.storeBytes(of: codes[64 * c + l] | (codes[64 * c + l + 32] << 4), toByteOffset: 16 + 32 * c + l, as: UInt8.self)
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
                yb.storeBytes(of: (l1 & 15) | ((l2 & 15) << 4), toByteOffset: 48 + 32 * c + l, as: UInt8.self)
            }
            yb.storeBytes(of: qh, toByteOffset: 16 + l, as: UInt8.self)
        }
    }
}

extension Q4_K {
    static func quantize(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) {
        AsymmetricK.quantize(x, y, blocks: blocks, bits: 4)
    }
}

extension Q5_K {
    static func quantize(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) {
        AsymmetricK.quantize(x, y, blocks: blocks, bits: 5)
    }
}

extension Q6_K {
    static func quantize(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) {
        let scratch = KQuantScratch()
        defer { scratch.deallocate() }
        var scales = [Float](repeating: 0, count: 16)
        for i in 0 ..< blocks {
            let xb = x + 256 * i
            let yb = y + 210 * i
            scratch.transpose(xb, groupSize: 16, groups: 16)
            var failed = false
            for q in 0 ..< 4 {
                guard let scale = KQuantSearchSIMD.symmetric(16, 32, scratch.values + 16 * q, scratch.codes + 16 * q) else {
                    failed = true
                    break
                }
                scales[4 * q] = scale.x
                scales[4 * q + 1] = scale.y
                scales[4 * q + 2] = scale.z
                scales[4 * q + 3] = scale.w
                scratch.storeLevels(quad: q, groupSize: 16)
            }
            if failed {
                quantizeReference(xb, yb, blocks: 1)
                continue
            }
            var maxScale: Float = 0
            var maxAbsScale: Float = 0
            for ib in 0 ..< 16 where abs(scales[ib]) > maxAbsScale {
                maxAbsScale = abs(scales[ib])
                maxScale = scales[ib]
            }
            if maxAbsScale < KQuantSearch.groupMaxEpsilon {
                for k in 0 ..< 210 { yb.storeBytes(of: 0, toByteOffset: k, as: UInt8.self) }
                continue
            }
            let iscale = -128 / maxScale
            yb.storeLE(ggmlFP16(1 / iscale), at: 208)
            for ib in 0 ..< 16 {
                let code = Int8(truncatingIfNeeded: min(127, nearestInt(iscale * scales[ib])))
                yb.storeBytes(of: UInt8(bitPattern: code), toByteOffset: 192 + ib, as: UInt8.self)
            }
            let dAll = UnsafeRawPointer(yb).loadF16(at: 208)
            for j in 0 ..< 16 {
                let d = dAll * Float(Int8(bitPattern: yb.load(fromByteOffset: 192 + j, as: UInt8.self)))
                if d == 0 { continue }
                requantize(xb + 16 * j, 16, offset: nil, scale: d, low: -32, high: 31, bias: 32, into: scratch.levels + 16 * j)
            }
            pack(scratch.levels, into: yb)
        }
    }
}

extension Q3_K {
    static func quantize(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) {
        let scratch = KQuantScratch()
        defer { scratch.deallocate() }
        var scales = [Float](repeating: 0, count: 16)
        for i in 0 ..< blocks {
            let xb = x + 256 * i
            let yb = y + 110 * i
            scratch.transpose(xb, groupSize: 16, groups: 16)
            var failed = false
            for q in 0 ..< 4 {
                guard let scale = KQuantSearchSIMD.symmetricRefined(16, 4, scratch.values + 16 * q, scratch.codes + 16 * q, scratch.work) else {
                    failed = true
                    break
                }
                scales[4 * q] = scale.x
                scales[4 * q + 1] = scale.y
                scales[4 * q + 2] = scale.z
                scales[4 * q + 3] = scale.w
                scratch.storeLevels(quad: q, groupSize: 16)
            }
            if failed {
                quantizeReference(xb, yb, blocks: 1)
                continue
            }
            var maxScale: Float = 0
            var amax: Float = 0
            for j in 0 ..< 16 where abs(scales[j]) > amax {
                amax = abs(scales[j])
                maxScale = scales[j]
            }
            let s = yb + 96
            for k in 0 ..< 12 { s.storeBytes(of: 0, toByteOffset: k, as: UInt8.self) }
            if maxScale != 0 {
                let iscale = -32 / maxScale
                for j in 0 ..< 16 {
                    var l = Int8(truncatingIfNeeded: nearestInt(iscale * scales[j]))
                    l = max(-32, min(31, l)) + 32
                    if j < 8 {
                        s.storeBytes(of: UInt8(bitPattern: l) & 0xF, toByteOffset: j, as: UInt8.self)
                    } else {
                        let old = s.load(fromByteOffset: j - 8, as: UInt8.self)
                        s.storeBytes(of: old | ((UInt8(bitPattern: l) & 0xF) << 4), toByteOffset: j - 8, as: UInt8.self)
                    }
                    l >>= 4
                    let old = s.load(fromByteOffset: 8 + j % 4, as: UInt8.self)
                    s.storeBytes(of: old | (UInt8(bitPattern: l) << (2 * (j / 4))), toByteOffset: 8 + j % 4, as: UInt8.self)
                }
                yb.storeLE(ggmlFP16(1 / iscale), at: 108)
            } else {
                yb.storeLE(ggmlFP16(0), at: 108)
            }
            let dAll = UnsafeRawPointer(yb).loadF16(at: 108)
            for j in 0 ..< 16 {
                let d = dAll * Float(Int8(bitPattern: scaleCode(j, s)) - 32)
                if d == 0 { continue }
                requantize(xb + 16 * j, 16, offset: nil, scale: d, low: -4, high: 3, bias: 4, into: scratch.levels + 16 * j)
            }
            // Levels are 0...7: bit 2 of level 32k + m goes to bit k of hmask[m], the low two bits to the
            // 2-bit packing. Eight levels per 64-bit word, one bit plane at a time.
            let words = UnsafeMutableRawPointer(scratch.levels)
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
            yb.storeBytes(of: hmask.0, toByteOffset: 0, as: UInt64.self)
            yb.storeBytes(of: hmask.1, toByteOffset: 8, as: UInt64.self)
            yb.storeBytes(of: hmask.2, toByteOffset: 16, as: UInt64.self)
            yb.storeBytes(of: hmask.3, toByteOffset: 24, as: UInt64.self)
            pack2BitWords(scratch.levels, into: yb + 32)
        }
    }
}

extension Q2_K {
    static func quantize(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) {
        let scratch = KQuantScratch()
        defer { scratch.deallocate() }
        var scales = [Float](repeating: 0, count: 16)
        var mins = [Float](repeating: 0, count: 16)
        for i in 0 ..< blocks {
            let xb = x + 256 * i
            let yb = y + 84 * i
            scratch.transpose(xb, groupSize: 16, groups: 16)
            var failed = false
            for q in 0 ..< 4 {
                let v = scratch.values + 16 * q
                let w = scratch.weights + 16 * q
                for l in 0 ..< 16 { w[l] = v[l].magnitude }
                guard let (scale, negatedMin) = KQuantSearchSIMD.asymmetric(
                    16, 3, v, w, scratch.codes + 16 * q, scratch.work, rmin: -0.5, rdelta: 0.1, nstep: 15, useMAD: true)
                else {
                    failed = true
                    break
                }
                for lane in 0 ..< 4 {
                    scales[4 * q + lane] = scale[lane]
                    mins[4 * q + lane] = negatedMin[lane]
                }
                scratch.storeLevels(quad: q, groupSize: 16)
            }
            if failed {
                quantizeReference(xb, yb, blocks: 1)
                continue
            }
            var maxScale: Float = 0
            var maxMin: Float = 0
            for j in 0 ..< 16 {
                if scales[j] > maxScale { maxScale = scales[j] }
                if mins[j] > maxMin { maxMin = mins[j] }
            }
            if maxScale > 0 {
                let iscale = 15 / maxScale
                for j in 0 ..< 16 {
                    yb.storeBytes(of: UInt8(truncatingIfNeeded: nearestInt(iscale * scales[j])), toByteOffset: j, as: UInt8.self)
                }
                yb.storeLE(ggmlFP16(maxScale / 15), at: 80)
            } else {
                for j in 0 ..< 16 { yb.storeBytes(of: 0, toByteOffset: j, as: UInt8.self) }
                yb.storeLE(ggmlFP16(0), at: 80)
            }
            if maxMin > 0 {
                let iscale = 15 / maxMin
                for j in 0 ..< 16 {
                    let l = nearestInt(iscale * mins[j])
                    let old = yb.load(fromByteOffset: j, as: UInt8.self)
                    yb.storeBytes(of: old | UInt8(truncatingIfNeeded: l &<< 4), toByteOffset: j, as: UInt8.self)
                }
                yb.storeLE(ggmlFP16(maxMin / 15), at: 82)
            } else {
                yb.storeLE(ggmlFP16(0), at: 82)
            }
            let d = UnsafeRawPointer(yb).loadF16(at: 80)
            let dmin = UnsafeRawPointer(yb).loadF16(at: 82)
            for j in 0 ..< 16 {
                let sc = yb.load(fromByteOffset: j, as: UInt8.self)
                let dl = d * Float(sc & 0xF)
                if dl == 0 { continue }
                requantize(xb + 16 * j, 16, offset: dmin * Float(sc >> 4), scale: dl, low: 0, high: 3, bias: 0,
                           into: scratch.levels + 16 * j)
            }
            pack2BitWords(scratch.levels, into: yb + 16)
        }
    }
}

/// `KQuantLayout.pack2Bit` eight bytes at a time (levels < 4, so no bits cross a byte; little-endian
/// byte order within the words, as on every platform Swift targets here).
@inline(__always)
private func pack2BitWords(_ levels: UnsafePointer<UInt8>, into qs: UnsafeMutableRawPointer) {
    let words = UnsafeRawPointer(levels)
    for h in 0 ..< 2 {
        for t in 0 ..< 4 {
            @_transparent func word(_ s: Int) -> UInt64 { words.load(fromByteOffset: 128 * h + 32 * s + 8 * t, as: UInt64.self) }
            let packed = word(0) | word(1) << 2 | word(2) << 4 | word(3) << 6
            qs.storeBytes(of: packed, toByteOffset: 32 * h + 8 * t, as: UInt64.self)
        }
    }
}
