import CConnkit
import TensorFormats

/// The k-quant super-block types (layouts and decoders: TensorFormats' `Blocks/KQuantBlocks.swift`).
///
/// ggml quantizes a super-block in two steps: a scale search per group of 16 or 32 values
/// (`make_qx_quants`, `make_q3_quants`, `make_qkx2_quants`: the bulk of the work), then one pass that
/// encodes the group scales, stores the f16 fields, requantizes each group with its encoded scale and
/// packs the codes. A type supplies the search (`searchGroup`, the scalar transcription in
/// KQuantSearch.swift; `searchQuad`, the same for four groups at once in KQuantSearchSIMD.swift) and the
/// second step (`finish`); the drivers below are the same for every type. The reference runs
/// `searchGroup` and `finish` with scalar requantization; the Swift fast kernel runs `searchQuad` and
/// `finish` with requantization along the elements, and hands a super-block whose search leaves the
/// exact range of the vector shortcuts to the reference. Where the CPU has AVX2 the production kernel is
/// the C target's (`ck_quantize_kquant`, CConnkit/quant_kquant.c: the same searches eight groups at once,
/// q3_k's four super-blocks side by side), and the Swift kernel is the portable path that also takes the
/// super-blocks the C kernel leaves. Every step keeps ggml's float32 operations and their order, so all
/// give ggml's bytes.
protocol KQuantBlock: BlockQuantizer {
    /// Values per group (16 or 32); a super-block holds `blockElements / groupSize` groups.
    static var groupSize: Int { get }
    /// The search of one group (`x`, `groupSize` values) as ggml writes it: its codes go to `codes`;
    /// returns the scale and the negated minimum (0 for the symmetric types).
    static func searchGroup(_ x: UnsafePointer<Float>, codes: UnsafeMutablePointer<UInt8>, _ s: KQuantScratch)
        -> (scale: Float, negatedMin: Float)
    /// The search of groups 4q...4q+3 of the transposed super-block in `s.values` (lane l: group 4q + l),
    /// codes to `s.codes`; nil when a lane leaves the exact range of the vector shortcuts.
    static func searchQuad(_ q: Int, _ s: KQuantScratch) -> (scale: F4, negatedMin: F4)?
    /// Encodes the scales in `s.scales` / `s.mins`, stores the f16 fields, requantizes the groups (their
    /// search codes in `s.levels` stand where a group's encoded scale is 0) and packs the codes.
    static func finish(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ s: KQuantScratch, vector: Bool)
}

extension KQuantBlock {
    /// ggml's k-quants search groups of 16 values, except q4_k and q5_k (32).
    static var groupSize: Int { 16 }

    /// The C kernel (`ck_quantize_kquant` for the type's ggml id) goes a super-block at a time; on a CPU
    /// without AVX2 there is none, and the Swift kernel takes whole ranges (not one super-block per call).
    static var vectorGroup: Int { kQuantVectorKernel ? 1 : 0 }

    static func quantizeVector(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int, finite: inout Bool) -> Int {
        ck_quantize_kquant(dtype.ggmlType!, x, y.assumingMemoryBound(to: UInt8.self), blocks)
    }

    static func quantizeBlockReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        let s = KQuantScratch()
        defer { s.deallocate() }
        quantizeBlockReference(x, y, s)
    }

    /// The reference with the caller's scratch: ggml's search group by group, then `finish`.
    static func quantizeBlockReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ s: KQuantScratch) {
        let n = groupSize
        for j in 0 ..< dtype.layout.blockElements / n {
            (s.scales[j], s.mins[j]) = searchGroup(x + n * j, codes: s.levels + n * j, s)
        }
        finish(x, y, s, vector: false)
    }

    /// The Swift kernel: each super-block transposed into quads of groups, searched four groups at once.
    /// Finite input only (the driver scans first).
    static func quantizePortable(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) -> Bool {
        let (elements, bytes) = dtype.layout
        let n = groupSize
        let groups = elements / n
        let s = KQuantScratch()
        defer { s.deallocate() }
        superBlocks: for i in 0 ..< blocks {
            let xb = x + elements * i
            let yb = y + bytes * i
            s.transpose(xb, groupSize: n, groups: groups)
            for q in 0 ..< groups / 4 {
                guard let (scale, negatedMin) = searchQuad(q, s) else {
                    quantizeBlockReference(xb, yb, s)
                    continue superBlocks
                }
                for lane in 0 ..< 4 {
                    s.scales[4 * q + lane] = scale[lane]
                    s.mins[4 * q + lane] = negatedMin[lane]
                }
                s.storeLevels(quad: q, groupSize: n)
            }
            finish(xb, yb, s, vector: true)
        }
        return true
    }
}

/// True when the CPU runs the C k-quant kernels (AVX2 + F16C).
private let kQuantVectorKernel = ck_has_f16c() != 0

/// Work memory for one super-block (at most 256 values in groups of at least 16), used by both searches
/// and by `finish`.
struct KQuantScratch {
    /// The transposed values: `values[n*q + i]` lane l is element i of group 4q + l.
    let values: UnsafeMutablePointer<F4>
    /// Per-element search weights, laid out as `values`.
    let weights: UnsafeMutablePointer<F4>
    /// The vector searches' codes, laid out as `values`.
    let codes: UnsafeMutablePointer<F4>
    /// The vector searches' work area (32 vectors).
    let work: UnsafeMutablePointer<F4>
    /// The codes of the super-block in element order.
    let levels: UnsafeMutablePointer<UInt8>
    /// The groups' scales and negated minimums.
    let scales: UnsafeMutablePointer<Float>
    let mins: UnsafeMutablePointer<Float>
    /// The scalar search's weights and trial codes (one group).
    let groupWeights: UnsafeMutablePointer<Float>
    let trial: UnsafeMutablePointer<UInt8>

    init() {
        values = .allocate(capacity: 64)
        weights = .allocate(capacity: 64)
        codes = .allocate(capacity: 64)
        work = .allocate(capacity: 32)
        levels = .allocate(capacity: 256)
        scales = .allocate(capacity: 16)
        mins = .allocate(capacity: 16)
        groupWeights = .allocate(capacity: 32)
        trial = .allocate(capacity: 32)
    }

    /// The largest group scale and the largest negated minimum (0 when none is positive), as ggml's
    /// asymmetric k-quants take them before encoding the scales.
    func largestScaleAndMin(groups: Int) -> (scale: Float, min: Float) {
        var maxScale: Float = 0
        var maxMin: Float = 0
        for j in 0 ..< groups {
            if scales[j] > maxScale { maxScale = scales[j] }
            if mins[j] > maxMin { maxMin = mins[j] }
        }
        return (maxScale, maxMin)
    }

    func deallocate() {
        values.deallocate()
        weights.deallocate()
        codes.deallocate()
        work.deallocate()
        levels.deallocate()
        scales.deallocate()
        mins.deallocate()
        groupWeights.deallocate()
        trial.deallocate()
    }

    /// Lays out `groups` groups of `n` values (group g at x[n*g...]) as quads, in `values` or `target`
    /// (the weighted kernels' importance weights go to `weights`).
    @inline(__always)
    func transpose(_ x: UnsafePointer<Float>, groupSize n: Int, groups: Int, into target: UnsafeMutablePointer<F4>? = nil) {
        let target = target ?? values
        for q in 0 ..< groups / 4 {
            let g = x + n * 4 * q
            for i in 0 ..< n {
                target[n * q + i] = F4(g[i], g[n + i], g[2 * n + i], g[3 * n + i])
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

/// ggml's requantization of a group with its encoded scale: level = clamp(nearest_int((x + offset) /
/// scale), low, high) + bias for `n` values (a multiple of 4) into `levels`, with the exact bit-level
/// nearest_int. `vector`: four values at a time (the same operations lane by lane).
@inline(__always)
func requantize(_ x: UnsafePointer<Float>, _ n: Int, offset: Float?, scale: Float, low: Int32, high: Int32, bias: Int32,
                into levels: UnsafeMutablePointer<UInt8>, vector: Bool) {
    guard vector else {
        for i in 0 ..< n {
            let v = offset.map { x[i] + $0 } ?? x[i]
            levels[i] = UInt8(truncatingIfNeeded: max(low, min(high, nearestInt(v / scale))) + bias)
        }
        return
    }
    var i = 0
    while i < n {
        var v = x.load4(i)
        if let offset { v = v + offset }
        let l = KQuantSearchSIMD.clamp(F4((v / scale).nearestInt), Float(low), Float(high)) + Float(bias)
        let codes = SIMD4<UInt8>(truncatingIfNeeded: l.nearestInt)
        levels[i] = codes.x
        levels[i + 1] = codes.y
        levels[i + 2] = codes.z
        levels[i + 3] = codes.w
        i += 4
    }
}

/// The shared 2-bit packing of 256 levels (each < 4) into 64 bytes: element 128h + 32s + l in byte 32h + l
/// at bit 2s. Eight bytes at a time (levels < 4, so no bits cross a byte; little-endian byte order within
/// the words, as on every platform Swift targets here).
@inline(__always)
func pack2Bit(_ levels: UnsafePointer<UInt8>, into qs: UnsafeMutableRawPointer) {
    let words = UnsafeRawPointer(levels)
    for h in 0 ..< 2 {
        for t in 0 ..< 4 {
            @_transparent func word(_ s: Int) -> UInt64 { words.load(fromByteOffset: 128 * h + 32 * s + 8 * t, as: UInt64.self) }
            let packed = word(0) | word(1) << 2 | word(2) << 4 | word(3) << 6
            qs.storeBytes(of: packed, toByteOffset: 32 * h + 8 * t, as: UInt64.self)
        }
    }
}
