import TensorFormats

/// The reference quantizers of the k-quant super-block types (the layouts and decoders are
/// TensorFormats' `Blocks/KQuantBlocks.swift`). `quantizeReference` transcribes ggml's
/// `quantize_row_*_ref`.
extension KQuantLayout {
    /// Packs the 6-bit codes of the eight sub-blocks (inverse of `scaleMin`), as q4_k/q5_k do.
    @inline(__always)
    static func packScaleMin(_ scales: UnsafePointer<UInt8>, _ mins: UnsafePointer<UInt8>, into q: UnsafeMutableRawPointer) {
        for j in 0 ..< 8 {
            let ls = scales[j]
            let lm = mins[j]
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

    /// The shared 2-bit packing of 256 codes (each < 4) into 64 bytes.
    @inline(__always)
    static func pack2Bit(_ codes: UnsafePointer<UInt8>, into qs: UnsafeMutableRawPointer) {
        for h in 0 ..< 2 {
            for l in 0 ..< 32 {
                let e = 128 * h + l
                let byte = codes[e] | (codes[e + 32] << 2) | (codes[e + 64] << 4) | (codes[e + 96] << 6)
                qs.storeBytes(of: byte, toByteOffset: 32 * h + l, as: UInt8.self)
            }
        }
    }
}

extension Q2_K {
    static func quantizeReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) {
        var codes = [UInt8](repeating: 0, count: 256)
        var scratch = [UInt8](repeating: 0, count: 16)
        var weights = [Float](repeating: 0, count: 16)
        var mins = [Float](repeating: 0, count: 16)
        var scales = [Float](repeating: 0, count: 16)
        for i in 0 ..< blocks {
            let xb = x + 256 * i
            let yb = y + 84 * i
            var maxScale: Float = 0
            var maxMin: Float = 0
            for j in 0 ..< 16 {
                for l in 0 ..< 16 { weights[l] = abs(xb[16 * j + l]) }
                let (scale, min) = codes.withUnsafeMutableBufferPointer { L in
                    KQuantSearch.asymmetric(16, 3, xb + 16 * j, weights, L.baseAddress! + 16 * j, &scratch,
                                            rmin: -0.5, rdelta: 0.1, nstep: 15, useMAD: true)
                }
                scales[j] = scale
                mins[j] = min
                if scale > maxScale { maxScale = scale }
                if min > maxMin { maxMin = min }
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
                let dm = dmin * Float(sc >> 4)
                for ii in 0 ..< 16 {
                    let l = max(0, min(3, nearestInt((xb[16 * j + ii] + dm) / dl)))
                    codes[16 * j + ii] = UInt8(truncatingIfNeeded: l)
                }
            }
            KQuantLayout.pack2Bit(codes, into: yb + 16)
        }
    }
}

extension Q3_K {
    static func quantizeReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) {
        var codes = [Int8](repeating: 0, count: 256)
        var scales = [Float](repeating: 0, count: 16)
        for i in 0 ..< blocks {
            let xb = x + 256 * i
            let yb = y + 110 * i
            var maxScale: Float = 0
            var amax: Float = 0
            for j in 0 ..< 16 {
                scales[j] = codes.withUnsafeMutableBufferPointer { L in
                    KQuantSearch.symmetricRefined(16, 4, xb + 16 * j, L.baseAddress! + 16 * j)
                }
                let scale = abs(scales[j])
                if scale > amax {
                    amax = scale
                    maxScale = scales[j]
                }
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
                let sc = Int8(bitPattern: scaleCode(j, s)) - 32
                let d = dAll * Float(sc)
                if d == 0 { continue }
                for ii in 0 ..< 16 {
                    let l = max(-4, min(3, nearestInt(xb[16 * j + ii] / d)))
                    codes[16 * j + ii] = Int8(truncatingIfNeeded: l + 4)
                }
            }
            for k in 0 ..< 32 { yb.storeBytes(of: 0, toByteOffset: k, as: UInt8.self) }
            var m = 0
            var hm: UInt8 = 1
            for j in 0 ..< 256 {
                if codes[j] > 3 {
                    let old = yb.load(fromByteOffset: m, as: UInt8.self)
                    yb.storeBytes(of: old | hm, toByteOffset: m, as: UInt8.self)
                    codes[j] -= 4
                }
                m += 1
                if m == 32 {
                    m = 0
                    hm <<= 1
                }
            }
            codes.withUnsafeBufferPointer { L in
                L.withMemoryRebound(to: UInt8.self) { KQuantLayout.pack2Bit($0.baseAddress!, into: yb + 32) }
            }
        }
    }
}

/// q4_k and q5_k share everything but the code width and the high-bit plane.
extension Q4_K {
    static func quantizeReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) {
        AsymmetricK.quantizeReference(x, y, blocks: blocks, bits: 4)
    }
}

extension Q5_K {
    static func quantizeReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) {
        AsymmetricK.quantizeReference(x, y, blocks: blocks, bits: 5)
    }
}

enum AsymmetricK {
    /// `quantize_row_q4_K_ref` (bits 4) and `quantize_row_q5_K_ref` (bits 5).
    static func quantizeReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int, bits: Int) {
        let nmax: Int32 = bits == 4 ? 15 : 31
        let rmin: Float = bits == 4 ? -1 : -0.5
        let nstep = bits == 4 ? 20 : 15
        let blockBytes = bits == 4 ? 144 : 176
        let qsOffset = bits == 4 ? 16 : 48
        var codes = [UInt8](repeating: 0, count: 256)
        var scratch = [UInt8](repeating: 0, count: 32)
        var weights = [Float](repeating: 0, count: 32)
        var mins = [Float](repeating: 0, count: 8)
        var scales = [Float](repeating: 0, count: 8)
        var scaleCodes = [UInt8](repeating: 0, count: 8)
        var minCodes = [UInt8](repeating: 0, count: 8)
        for i in 0 ..< blocks {
            let xb = x + 256 * i
            let yb = y + blockBytes * i
            var maxScale: Float = 0
            var maxMin: Float = 0
            for j in 0 ..< 8 {
                var sumX2: Float = 0
                for l in 0 ..< 32 { sumX2 += xb[32 * j + l] * xb[32 * j + l] }
                let avX = (sumX2 / 32).squareRoot()
                for l in 0 ..< 32 { weights[l] = avX + abs(xb[32 * j + l]) }
                let (scale, min) = codes.withUnsafeMutableBufferPointer { L in
                    KQuantSearch.asymmetric(32, nmax, xb + 32 * j, weights, L.baseAddress! + 32 * j, &scratch,
                                            rmin: rmin, rdelta: 0.1, nstep: nstep, useMAD: false)
                }
                scales[j] = scale
                mins[j] = min
                if scale > maxScale { maxScale = scale }
                if min > maxMin { maxMin = min }
            }
            let invScale: Float = maxScale > 0 ? 63 / maxScale : 0
            let invMin: Float = maxMin > 0 ? 63 / maxMin : 0
            for j in 0 ..< 8 {
                scaleCodes[j] = min(63, UInt8(truncatingIfNeeded: nearestInt(invScale * scales[j])))
                minCodes[j] = min(63, UInt8(truncatingIfNeeded: nearestInt(invMin * mins[j])))
            }
            KQuantLayout.packScaleMin(scaleCodes, minCodes, into: yb + 4)
            yb.storeLE(ggmlFP16(maxScale / 63), at: 0)
            yb.storeLE(ggmlFP16(maxMin / 63), at: 2)
            let d = UnsafeRawPointer(yb).loadF16(at: 0)
            let dmin = UnsafeRawPointer(yb).loadF16(at: 2)
            for j in 0 ..< 8 {
                let (sc, m) = KQuantLayout.scaleMin(j, yb + 4)
                let dl = d * Float(sc)
                if dl == 0 { continue }
                let dm = dmin * Float(m)
                for ii in 0 ..< 32 {
                    let l = max(0, min(nmax, nearestInt((xb[32 * j + ii] + dm) / dl)))
                    codes[32 * j + ii] = UInt8(truncatingIfNeeded: l)
                }
            }
            if bits == 4 {
                for c in 0 ..< 4 {
                    for l in 0 ..< 32 {
                        yb.storeBytes(of: codes[64 * c + l] | (codes[64 * c + l + 32] << 4), toByteOffset: qsOffset + 32 * c + l, as: UInt8.self)
                    }
                }
            } else {
                for k in 0 ..< 32 { yb.storeBytes(of: 0, toByteOffset: 16 + k, as: UInt8.self) }
                var m1: UInt8 = 1
                var m2: UInt8 = 2
                for c in 0 ..< 4 {
                    for l in 0 ..< 32 {
                        var l1 = codes[64 * c + l]
                        var qh = yb.load(fromByteOffset: 16 + l, as: UInt8.self)
                        if l1 > 15 {
                            l1 -= 16
                            qh |= m1
                        }
                        var l2 = codes[64 * c + l + 32]
                        if l2 > 15 {
                            l2 -= 16
                            qh |= m2
                        }
                        yb.storeBytes(of: qh, toByteOffset: 16 + l, as: UInt8.self)
                        yb.storeBytes(of: l1 | (l2 << 4), toByteOffset: qsOffset + 32 * c + l, as: UInt8.self)
                    }
                    m1 <<= 2
                    m2 <<= 2
                }
            }
        }
    }
}

extension Q6_K {
    static func quantizeReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) {
        var codes = [Int8](repeating: 0, count: 256)
        var scales = [Float](repeating: 0, count: 16)
        for i in 0 ..< blocks {
            let xb = x + 256 * i
            let yb = y + 210 * i
            var maxScale: Float = 0
            var maxAbsScale: Float = 0
            for ib in 0 ..< 16 {
                let scale = codes.withUnsafeMutableBufferPointer { L in
                    KQuantSearch.symmetric(16, 32, xb + 16 * ib, L.baseAddress! + 16 * ib)
                }
                scales[ib] = scale
                if abs(scale) > maxAbsScale {
                    maxAbsScale = abs(scale)
                    maxScale = scale
                }
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
                for ii in 0 ..< 16 {
                    let l = max(-32, min(31, nearestInt(xb[16 * j + ii] / d)))
                    codes[16 * j + ii] = Int8(truncatingIfNeeded: l + 32)
                }
            }
            codes.withUnsafeBufferPointer { L in
                L.withMemoryRebound(to: UInt8.self) { Q6_K.pack($0.baseAddress!, into: yb) }
            }
        }
    }

    /// Packs 256 6-bit codes into `ql` (128 bytes) and `qh` (64 bytes).
    @inline(__always)
    static func pack(_ L: UnsafePointer<UInt8>, into yb: UnsafeMutableRawPointer) {
        for h in 0 ..< 2 {
            for l in 0 ..< 32 {
                let e = 128 * h + l
                let q1 = L[e] & 0xF, q2 = L[e + 32] & 0xF, q3 = L[e + 64] & 0xF, q4 = L[e + 96] & 0xF
                yb.storeBytes(of: q1 | (q3 << 4), toByteOffset: 64 * h + l, as: UInt8.self)
                yb.storeBytes(of: q2 | (q4 << 4), toByteOffset: 64 * h + l + 32, as: UInt8.self)
                let high = (L[e] >> 4) | ((L[e + 32] >> 4) << 2) | ((L[e + 64] >> 4) << 4) | ((L[e + 96] >> 4) << 6)
                yb.storeBytes(of: high, toByteOffset: 128 + 32 * h + l, as: UInt8.self)
            }
        }
    }
}
