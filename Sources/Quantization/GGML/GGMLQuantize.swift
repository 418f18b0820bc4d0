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
    /// Throws `.nonFinite` naming the first NaN/±inf element (flat index), `.rowLength` when the row is
    /// not a whole number of blocks, `.unsupportedType` for a type connkit does not produce.
    public static func quantize(_ values: UnsafeBufferPointer<Float>, rowLength: Int, as type: DType,
                                into output: UnsafeMutableRawBufferPointer, threads: Int = 1,
                                kernel: QuantizationKernel = .fast) throws {
        let kernels = switch kernel {
        case .fast: fastKernel(type, vectorExtensions: true)
        case .portable: fastKernel(type, vectorExtensions: false)
        case .reference: referenceKernel(type).map { (kernel: $0, checking: nil as CheckingQuantizeKernel?) }
        }
        guard let kernels else {
            throw QuantizationError(.unsupportedType(type, operation: "quantize to"))
        }
        let (quantizeBlocks, checkingKernel) = kernels
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
                if let checkingKernel {
                    // false may be a false alarm (see `nonFiniteProbe`): the exact scan decides.
                    if !checkingKernel(source + start, output, count * blocksPerRow),
                       let bad = firstNonFinite(source + start, count * rowLength) {
                        return start + bad
                    }
                } else {
                    if let bad = firstNonFinite(source + start, count * rowLength) { return start + bad }
                    quantizeBlocks(source + start, output, count * blocksPerRow)
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
