import TensorFormats

/// Which implementation runs: `fast` (the production path), `portable` (the fast path without the C
/// target's AVX2 kernels: what a CPU without AVX2 runs) or `reference` (the scalar transcription of ggml,
/// kept to prove the fast paths byte-identical and to read next to ggml's C).
public enum QuantizationKernel: Sendable, CaseIterable {
    case fast, portable, reference
}

extension GGMLBlocks {
    /// Quantizes row-major float32 `values` (rows of `rowLength` elements) to `type`, writing
    /// `rows × rowLength / blockElements × blockBytes` bytes to `output`. Rows are split across up to
    /// `threads` threads; the bytes do not depend on the thread count.
    ///
    /// `importance` (ggml's `quant_weights`: one weight per element of a row, the same for every row, as
    /// llama.cpp's imatrix gives `in_sum2 / counts` per input column) selects ggml's weighted quantizer for
    /// the types that take one (`takesImportance`); the bytes are `ggml_quantize_chunk`'s given that vector.
    /// A type that ignores it (q8_0) quantizes as without. Weighted rows run the reference, or with `fast` and
    /// `portable` the type's weighted Swift kernel where it has one (q2_k, q4_k, q5_k, q4_1, q5_1).
    ///
    /// Throws `.nonFinite` naming the first NaN/±inf element (flat index), `.rowLength` when the row is
    /// not a whole number of blocks, `.unsupportedType` for a type connkit does not produce,
    /// `.sizeMismatch` for an importance vector that is not `rowLength` long and `.invalidRequest` for one
    /// holding a negative or non-finite weight.
    public static func quantize(_ values: UnsafeBufferPointer<Float>, rowLength: Int, as type: DType,
                                importance: [Float]? = nil, into output: UnsafeMutableRawBufferPointer,
                                threads: Int = 1, kernel: QuantizationKernel = .fast) throws {
        guard let quantizer = quantizer(type) else {
            throw QuantizationError(.unsupportedType(type, operation: "quantize to"))
        }
        guard let importance else {
            return try quantize(quantizer, values, rowLength: rowLength, importance: nil, into: output,
                                threads: threads, kernel: kernel)
        }
        guard importance.count == rowLength else {
            throw QuantizationError(.sizeMismatch(expected: rowLength, found: importance.count))
        }
        if let bad = importance.firstIndex(where: { !($0 >= 0 && $0.isFinite) }) {
            throw QuantizationError(.invalidRequest(
                "importance weight \(bad) is \(importance[bad]); importance weights must be finite and non-negative"))
        }
        try importance.withUnsafeBufferPointer { weights in
            try quantize(quantizer, values, rowLength: rowLength, importance: weights.baseAddress, into: output,
                         threads: threads, kernel: kernel)
        }
    }

    /// The row driver, once for every type: checks the geometry, splits the rows across threads, and
    /// checks finiteness (in the kernel, or by a scan before it). Weighted rows (`importance`, `rowLength`
    /// weights) go to `quantizeRowReference` / `quantizeRowPortable` one by one.
    private static func quantize<Q: BlockQuantizer>(_: Q.Type, _ values: UnsafeBufferPointer<Float>, rowLength: Int,
                                                    importance: UnsafePointer<Float>?,
                                                    into output: UnsafeMutableRawBufferPointer, threads: Int,
                                                    kernel: QuantizationKernel) throws {
        let type = Q.dtype
        let weights = Q.facts.takesImportance ? importance : nil
        let checking = weights == nil && kernel != .reference && Q.checksFiniteness
        /// Quantizes `blocks` blocks with the chosen kernel; false when a value may be NaN or ±inf.
        func quantizeBlocks(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ blocks: Int) -> Bool {
            switch kernel {
            case .fast: return Q.quantizeFast(x, y, blocks: blocks, vectorExtensions: true)
            case .portable: return Q.quantizePortable(x, y, blocks: blocks)
            case .reference:
                Q.quantizeReference(x, y, blocks: blocks)
                return true
            }
        }
        let (blockElements, blockBytes) = type.layout
        guard rowLength > 0, rowLength % blockElements == 0 else {
            throw QuantizationError(.rowLength(rowLength, blockElements: blockElements, type: type.rawValue))
        }
        guard values.count % rowLength == 0 else {
            throw QuantizationError(.sizeMismatch(expected: values.count - values.count % rowLength, found: values.count))
        }
        let rows = values.count / rowLength
        let blocksPerRow = rowLength / blockElements
        let expectedBytes = rows * blocksPerRow * blockBytes
        guard output.count == expectedBytes else {
            throw QuantizationError(.sizeMismatch(expected: expectedBytes, found: output.count))
        }
        guard rows > 0, let source = values.baseAddress, let destination = output.baseAddress else { return }
        // Small chunks are not worth a thread: keep at least ~64K elements per range.
        let minimumRows = max(1, 65536 / rowLength)
        // Each thread checks and quantizes its rows in slices of about 64K values, so the values checked
        // are still in cache when they are quantized.
        let sliceRows = max(1, 65536 / rowLength)
        let firstBad = Parallel.map(count: rows, threads: threads, minimumChunk: minimumRows) { range -> Int? in
            var row = range.lowerBound
            while row < range.upperBound {
                let count = min(sliceRows, range.upperBound - row)
                let start = row * rowLength
                let output = destination + row * blocksPerRow * blockBytes
                if checking {
                    // false may be a false alarm (see `nonFiniteProbe`): the exact scan decides.
                    if !quantizeBlocks(source + start, output, count * blocksPerRow),
                       let bad = firstNonFinite(source + start, count * rowLength) {
                        return start + bad
                    }
                } else {
                    if let bad = firstNonFinite(source + start, count * rowLength) { return start + bad }
                    if let weights {
                        for r in 0 ..< count {
                            let (x, y) = (source + start + r * rowLength, output + r * blocksPerRow * blockBytes)
                            if kernel == .reference {
                                Q.quantizeRowReference(x, y, rowLength: rowLength, importance: weights)
                            } else {
                                Q.quantizeRowPortable(x, y, rowLength: rowLength, importance: weights)
                            }
                        }
                    } else {
                        _ = quantizeBlocks(source + start, output, count * blocksPerRow)
                    }
                }
                row += count
            }
            return nil
        }.compactMap { $0 }.min()
        if let bad = firstBad {
            throw QuantizationError(.nonFinite(index: bad, value: "\(source[bad])"))
        }
    }
}

/// Index of the first NaN or ±inf among `count` floats, or nil.
func firstNonFinite(_ values: UnsafePointer<Float>, _ count: Int) -> Int? {
    // x * 0 is ±0 for finite x and NaN for NaN/±inf; a NaN survives the sums. Four sums for parallelism.
    var sums = (F4(), F4(), F4(), F4())
    var i = 0
    while i + 16 <= count {
        sums.0 += values.load4(i) * 0
        sums.1 += values.load4(i + 4) * 0
        sums.2 += values.load4(i + 8) * 0
        sums.3 += values.load4(i + 12) * 0
        i += 16
    }
    let total = (sums.0 + sums.1) + (sums.2 + sums.3)
    var clean = total.x == total.x && total.y == total.y && total.z == total.z && total.w == total.w
    while clean, i < count {
        clean = values[i].isFinite
        i += 1
    }
    if clean { return nil }
    for j in 0 ..< count where !values[j].isFinite { return j }
    return nil
}
