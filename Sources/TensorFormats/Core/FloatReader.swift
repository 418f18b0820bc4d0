#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reading a tensor as float32: the one way every consumer (the converter's casts, the quantizer, the
/// value scan, the runtime's weights) widens or dequantizes stored values.
///
/// Every dtype with `readsAsFloat32` is read: f64, f32, f16, bf16, the f8 formats (exactly; f64 rounds
/// as `Float64Rounding` says) and every ggml block type (gguf-py's values, `GGMLBlocks`). The tensor is
/// read in chunks of whole rows (and whole blocks), so memory stays at one chunk whatever its size, and
/// the pages of a mapped file are released behind the reader as it goes. A tensor with no elements is
/// never read and never sizes a buffer, whatever its other dimensions.
///
/// ```swift
/// try tensor.forEachFloatChunk(rowsOf: rowLength, maxElements: 1 << 20) { values, firstElement in … }
/// let small = try tensor.floats()                       // the whole tensor, for small ones
/// try tensor.readFloats(into: weights)                  // the whole tensor into caller-owned memory
/// ```
extension DType {
    /// Whether `Tensor`'s float readers decode this dtype: f64, f32, f16, bf16, the f8 formats and every
    /// ggml block type (integers, bool, complex, f6 and f4 are not).
    public var readsAsFloat32: Bool {
        isBlockQuantized ? GGMLBlocks.decoder(for: self) != nil : Cast.decodesToFloat32(self)
    }
}

extension DType {
    /// Decodes `bytes` (whole blocks of this dtype, row-major, little-endian) to float32, split across up
    /// to `threads` threads: the decoding of `Tensor.forEachFloatChunk`, for bytes in hand.
    /// `values.count` must be the element count the bytes hold.
    public func decodeFloats(_ bytes: UnsafeRawBufferPointer, into values: UnsafeMutableBufferPointer<Float>,
                             f64: Float64Rounding = .toNearestEven, threads: Int = 1) throws {
        let decoder = try FloatDecoder(self, f64: f64)
        guard let expected = byteCount(elements: values.count), bytes.count == expected else {
            throw FormatError(.sizeMismatch(expected: values.count / layout.blockElements * layout.blockBytes, found: bytes.count))
        }
        guard let source = bytes.baseAddress, let destination = values.baseAddress else { return }
        decoder.decode(source, first: 0, count: values.count, into: destination, threads: threads)
    }
}

extension Tensor {
    /// Elements per chunk when the caller does not say: small enough to stay in cache.
    public static let defaultFloatChunkElements = 1 << 16

    /// Calls `body` with consecutive chunks of the tensor's values as float32, in order, and the flat
    /// index of each chunk's first element.
    ///
    /// - Parameters:
    ///   - rowLength: each chunk holds whole rows of this many elements (and whole blocks of a block
    ///     type); it must divide the element count. A chunk holds at least one row.
    ///   - maxElements: chunks hold at most this many elements, or one row (block) when that is larger.
    ///   - elements: read only this range (its bounds on chunk boundaries: whole rows and blocks); the
    ///     whole tensor when nil. Only a whole-tensor read lets go of the tensor's data at the end.
    ///   - f64: how f64 values are rounded.
    ///   - threads: decoding of each chunk is split across up to this many threads.
    ///   - body: gets the chunk's values (valid only during the call; `body` may overwrite them).
    /// - Throws: `FormatError.unsupportedDType` when the dtype does not read as float32, the tensor's
    ///   own read errors, `.limitExceeded` when the chunk buffer cannot be allocated, and what `body` throws.
    public func forEachFloatChunk(rowsOf rowLength: Int = 1, maxElements: Int = Tensor.defaultFloatChunkElements,
                                  in elements: Range<Int>? = nil, f64: Float64Rounding = .toNearestEven, threads: Int = 1,
                                  _ body: (UnsafeMutableBufferPointer<Float>, _ firstElement: Int) throws -> Void) throws {
        try forEachDecodedChunk(rowsOf: rowLength, maxElements: maxElements, in: elements, f64: f64, threads: threads) { values, chunk in
            try body(values, chunk.firstElement)
        }
    }

    /// `forEachFloatChunk`, handing `body` the chunk the values were decoded from (its first element, and
    /// the source values `CastOverflow` reads for an f64 tensor) instead of its first element alone.
    public func forEachDecodedChunk(rowsOf rowLength: Int = 1, maxElements: Int = Tensor.defaultFloatChunkElements,
                                    in elements: Range<Int>? = nil, f64: Float64Rounding = .toNearestEven, threads: Int = 1,
                                    _ body: (UnsafeMutableBufferPointer<Float>, FloatChunk) throws -> Void) throws {
        var buffer: UnsafeMutablePointer<Float>?
        defer { free(buffer) }
        try forEachChunk(rowsOf: rowLength, maxElements: maxElements, in: elements, f64: f64) { chunk in
            // Sized by the first chunk, the largest, which holds elements actually present in the data.
            let values = try buffer ?? allocateFloats(chunk.count, for: "the float32 chunks of tensor '\(name)'")
            buffer = values
            chunk.decode(into: values, threads: threads)
            try body(UnsafeMutableBufferPointer(start: values, count: chunk.count), chunk)
        }
    }

    /// Calls `body` with consecutive chunks of the tensor (as `forEachFloatChunk` cuts them), each
    /// decoded only when `body` asks: for writing float32 straight into memory the caller owns.
    public func forEachChunk(rowsOf rowLength: Int = 1, maxElements: Int = Tensor.defaultFloatChunkElements,
                             in elements: Range<Int>? = nil, f64: Float64Rounding = .toNearestEven,
                             _ body: (FloatChunk) throws -> Void) throws {
        let count = info.elementCount
        let range = elements ?? 0 ..< count
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "element range outside the tensor")
        let decoder = try FloatDecoder(dtype, f64: f64, tensor: name)
        // Nothing below may size anything from the shape when there is nothing to read.
        guard !range.isEmpty else { return }
        let step = FloatDecoder.chunkElements(count: count, rowLength: rowLength, granule: decoder.blockElements,
                                              maxElements: maxElements)
        precondition(range.lowerBound % step.granule == 0 && (range.upperBound % step.granule == 0 || range.upperBound == count),
                     "element range not on whole rows and blocks")
        // No MADV_WILLNEED: sequential faults already trigger the kernel's readahead, and on a warm page
        // cache the advice alone cost ~35 ms per GiB (measured), 3% of a cast.
        let region = data.fileRegion
        let firstByte = decoder.byteOffset(of: range.lowerBound)
        try withBytes { bytes in
            var released = firstByte
            var start = range.lowerBound
            while start < range.upperBound {
                let n = min(step.elements, range.upperBound - start)
                try body(FloatChunk(bytes: bytes, decoder: decoder, firstElement: start, count: n))
                start += n
                // Let go of what has been read, a span of at least 1 MiB at a time (or the rest at the end).
                let end = decoder.byteOffset(of: start)
                if let region, end - released >= 1 << 20 || start == range.upperBound {
                    region.file.release(offset: region.offset + released, count: end - released)
                    released = end
                }
            }
        }
        if elements == nil { data.release() }
    }

    /// Decodes the whole tensor into `destination` (exactly `elementCount` floats), a chunk at a time.
    public func readFloats(into destination: UnsafeMutableBufferPointer<Float>, f64: Float64Rounding = .toNearestEven,
                           threads: Int = 1) throws {
        precondition(destination.count == info.elementCount, "readFloats needs exactly elementCount floats")
        try forEachChunk(maxElements: 1 << 20, f64: f64) { chunk in
            chunk.decode(into: destination.baseAddress! + chunk.firstElement, threads: threads)
        }
    }

    /// The whole tensor as float32 (for small tensors: it allocates `elementCount` floats).
    public func floats(f64: Float64Rounding = .toNearestEven, threads: Int = 1) throws -> [Float] {
        guard Checked.multiply(info.elementCount, MemoryLayout<Float>.stride) != nil else {
            throw FormatError(.overflow(what: "the float32 size of tensor '\(name)'"))
        }
        return try [Float](unsafeUninitializedCapacity: info.elementCount) { values, initialized in
            try readFloats(into: values, f64: f64, threads: threads)
            initialized = values.count
        }
    }
}

/// A run of whole rows of a tensor, handed out by `Tensor.forEachChunk`: decoded to float32 on request.
/// It borrows the tensor's bytes, so it is valid only inside the body that received it.
public struct FloatChunk {
    /// Flat row-major index of the first element.
    public let firstElement: Int
    /// Elements in the chunk.
    public let count: Int
    let bytes: UnsafeRawBufferPointer
    let decoder: FloatDecoder

    init(bytes: UnsafeRawBufferPointer, decoder: FloatDecoder, firstElement: Int, count: Int) {
        self.bytes = bytes
        self.decoder = decoder
        self.firstElement = firstElement
        self.count = count
    }

    /// The source value of the chunk's element `index` when the tensor is f64 (nil otherwise): what a
    /// narrowing to float32 started from.
    func float64(at index: Int) -> Double? {
        guard decoder.dtype == .f64, index >= 0, index < count else { return nil }
        let value = bytes.loadUnaligned(fromByteOffset: (firstElement + index) * 8, as: UInt64.self)
        return Double(bitPattern: UInt64(littleEndian: value))
    }

    /// Writes the chunk's `count` values to `destination`, the work split across up to `threads` threads.
    public func decode(into destination: UnsafeMutablePointer<Float>, threads: Int = 1) {
        decoder.decode(bytes.baseAddress!, first: firstElement, count: count, into: destination, threads: threads)
    }

    /// Writes the chunk's values as little-endian float32 to `destination` (`count × 4` bytes), which
    /// need not be aligned (an output file's buffer, say).
    public func decode(into destination: UnsafeMutableRawBufferPointer, threads: Int = 1) {
        precondition(destination.count == count * MemoryLayout<Float>.size, "decode(into:) needs count × 4 bytes")
        guard let base = destination.baseAddress else { return }
        if Int(bitPattern: base) % MemoryLayout<Float>.alignment == 0 {
            decode(into: base.assumingMemoryBound(to: Float.self), threads: threads)
            return
        }
        // Unaligned: through a small buffer on the stack, whole blocks at a time.
        let piece = max(decoder.blockElements, 4096 / decoder.blockElements * decoder.blockElements)
        withUnsafeTemporaryAllocation(of: Float.self, capacity: piece) { scratch in
            var done = 0
            while done < count {
                let n = min(piece, count - done)
                decoder.decode(bytes.baseAddress!, first: firstElement + done, count: n, into: scratch.baseAddress!, threads: 1)
                (base + done * 4).copyMemory(from: scratch.baseAddress!, byteCount: n * 4)
                done += n
            }
        }
    }
}

/// Decodes elements of one dtype from a tensor's row-major, little-endian bytes.
struct FloatDecoder {
    let dtype: DType
    let f64: Float64Rounding
    let blockDecoder: GGMLBlocks.Decoder?
    let blockElements: Int
    let blockBytes: Int

    init(_ dtype: DType, f64: Float64Rounding, tensor: String? = nil) throws {
        guard dtype.readsAsFloat32 else {
            throw FormatError(.unsupportedDType(dtype.rawValue, reason: "connkit does not read it as float32"),
                              at: tensor.map { .tensor($0) })
        }
        self.dtype = dtype
        self.f64 = f64
        blockDecoder = GGMLBlocks.decoder(for: dtype)
        (blockElements, blockBytes) = dtype.layout
    }

    /// Byte offset of element `index` (a multiple of `blockElements`) in the tensor's bytes.
    func byteOffset(of index: Int) -> Int {
        index / blockElements * blockBytes
    }

    /// Elements `first ..< first + count` (whole blocks) of the tensor whose bytes start at `bytes`.
    func decode(_ bytes: UnsafeRawPointer, first: Int, count: Int, into destination: UnsafeMutablePointer<Float>,
                threads: Int) {
        let source = bytes + byteOffset(of: first)
        guard threads > 1 else {
            decodeBlocks(source, count / blockElements, into: destination)
            return
        }
        _ = Parallel.map(count: count / blockElements, threads: threads, minimumChunk: max(1, 65536 / blockElements)) { blocks in
            decodeBlocks(source + blocks.lowerBound * blockBytes, blocks.count, into: destination + blocks.lowerBound * blockElements)
        }
    }

    /// `blocks` whole blocks (elements, for plain types) from `source`.
    private func decodeBlocks(_ source: UnsafeRawPointer, _ blocks: Int, into destination: UnsafeMutablePointer<Float>) {
        if let blockDecoder {
            blockDecoder(source, destination, blocks)
        } else {
            Cast.toFloat32(source, dtype, count: blocks, into: destination, f64: f64)
        }
    }

    /// Chunk geometry: `granule` is the smallest run of whole rows and whole blocks (nil-safe: the whole
    /// tensor when it would overflow), `elements` the chunk length (a multiple of it, at most `count`).
    static func chunkElements(count: Int, rowLength: Int, granule blockElements: Int,
                              maxElements: Int) -> (granule: Int, elements: Int) {
        precondition(rowLength > 0 && count % rowLength == 0, "rowLength must divide the element count")
        var a = rowLength, b = blockElements
        while b != 0 { (a, b) = (b, a % b) }
        let granule = Checked.multiply(rowLength / a, blockElements).map { min($0, count) } ?? count
        let elements = min(count, max(granule, maxElements / granule * granule))
        return (granule, elements)
    }
}

/// `count` floats from `malloc` (the caller frees them), or `.limitExceeded` instead of the abort of
/// Swift's own allocators.
func allocateFloats(_ count: Int, for what: @autoclosure () -> String) throws -> UnsafeMutablePointer<Float> {
    guard let bytes = Checked.multiply(count, MemoryLayout<Float>.stride),
          let raw = malloc(max(bytes, 1)) else {
        throw FormatError(.limitExceeded(what: "memory for \(what())", value: "\(count) floats",
                                         limit: "what the system could allocate"))
    }
    return raw.bindMemory(to: Float.self, capacity: count)
}
