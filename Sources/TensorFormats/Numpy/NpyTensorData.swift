/// The data of an npy array (a `.npy` file or an `.npz` member), presented row-major and little-endian.
///
/// Little-endian C-ordered arrays are lent straight from the mapping. Big-endian data is byte-swapped and
/// Fortran-ordered data transposed into a temporary buffer for the duration of `withBytes`.
public struct NpyTensorData: TensorData {
    /// Where the stored bytes are.
    enum Source: Sendable {
        /// Verbatim in a mapped file.
        case mapped(FileRegion)
        /// At `offset` in the content of a zip member (stored or deflated).
        case zipMember(ZipEntry, offset: Int, count: Int)
    }

    let source: Source
    let dtype: DType
    let shape: [Int]
    let bigEndian: Bool
    let fortranOrder: Bool

    init(source: Source, header: NpyHeader) {
        self.source = source
        dtype = header.dtype
        shape = header.shape
        bigEndian = header.bigEndian
        fortranOrder = header.fortranOrder
    }

    /// C and Fortran order coincide when at most one dimension is longer than 1.
    var needsTranspose: Bool { fortranOrder && shape.filter({ $0 != 1 }).count > 1 && !shape.contains(0) }
    var isVerbatim: Bool { !bigEndian && !needsTranspose }

    /// Set for verbatim little-endian C-ordered data. For a stored `.npz` member, asking for it checks the
    /// member's CRC first (once; a corrupt member gives nil, so the caller falls back to `withBytes`, which
    /// throws the CRC error): nothing copies unverified bytes in the kernel. Only consumers of the data ask.
    public var fileRegion: FileRegion? {
        guard isVerbatim else { return nil }
        switch source {
        case .mapped(let region):
            return region
        case .zipMember(let entry, let offset, let count):
            guard entry.method == .stored, (try? entry.verifyCRC()) != nil else { return nil }
            return FileRegion(file: entry.file, offset: entry.dataOffset + offset, count: count)
        }
    }

    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        try withStoredBytes { stored in
            if isVerbatim { return try body(stored) }
            return try withScratchBuffer(count: stored.count, for: "a reordered npy array") { buffer in
                NpyTensorData.rearrange(stored, into: buffer, elementSize: dtype.elementSize ?? 1,
                                        swapUnit: bigEndian ? dtype.swapUnit : 1,
                                        shape: needsTranspose ? shape : nil)
                return try body(UnsafeRawBufferPointer(buffer))
            }
        }
    }

    public func release() {
        switch source {
        case .mapped(let region):
            region.file.release(offset: region.offset, count: region.count)
        case .zipMember(let entry, let offset, let count):
            switch entry.method {
            case .stored: entry.file.release(offset: entry.dataOffset + offset, count: count)
            case .deflated: entry.file.release(offset: entry.dataOffset, count: entry.compressedSize)
            }
        }
    }

    private func withStoredBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        switch source {
        case .mapped(let region):
            return try region.file.withBytes(offset: region.offset, count: region.count, body)
        case .zipMember(let entry, let offset, let count):
            return try entry.withData { content in
                try body(UnsafeRawBufferPointer(rebasing: content[offset ..< offset + count]))
            }
        }
    }

    /// Copies `source` into `destination`, transposing from Fortran order when `shape` is given (the logical
    /// row-major shape) and byte-swapping every `swapUnit`-byte group when `swapUnit > 1`.
    static func rearrange(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer,
                          elementSize: Int, swapUnit: Int, shape: [Int]?) {
        precondition(source.count == destination.count, "rearrange needs equal sizes")
        if let shape {
            switch elementSize {
            case 1: transpose(UInt8.self, source, destination, shape: shape)
            case 2: transpose(UInt16.self, source, destination, shape: shape)
            case 4: transpose(UInt32.self, source, destination, shape: shape)
            default: transpose(UInt64.self, source, destination, shape: shape)
            }
        } else {
            destination.copyMemory(from: source)
        }
        switch swapUnit {
        case 2: swapInPlace(UInt16.self, destination)
        case 4: swapInPlace(UInt32.self, destination)
        case 8: swapInPlace(UInt64.self, destination)
        default: break
        }
    }

    private static func swapInPlace<T: FixedWidthInteger>(_: T.Type, _ buffer: UnsafeMutableRawBufferPointer) {
        let count = buffer.count / MemoryLayout<T>.size
        guard count > 0, let base = buffer.baseAddress else { return }
        for index in 0 ..< count {
            let offset = index * MemoryLayout<T>.size
            let value = base.loadUnaligned(fromByteOffset: offset, as: T.self)
            base.storeBytes(of: value.byteSwapped, toByteOffset: offset, as: T.self)
        }
    }

    /// Fortran order stores element (i0, …, in-1) at Σ ik·sk with s0 = 1, sk = sk-1·shape[k-1]. Walks the output in
    /// row-major order, the last axis innermost.
    private static func transpose<T: FixedWidthInteger>(_: T.Type, _ source: UnsafeRawBufferPointer,
                                                        _ destination: UnsafeMutableRawBufferPointer, shape: [Int]) {
        let rank = shape.count
        let total = source.count / MemoryLayout<T>.size
        guard rank >= 2, total > 0, let input = source.baseAddress, let output = destination.baseAddress else { return }
        var strides = [Int](repeating: 1, count: rank)
        for axis in 1 ..< rank { strides[axis] = strides[axis - 1] * shape[axis - 1] }
        let inner = shape[rank - 1]
        let innerStride = strides[rank - 1] * MemoryLayout<T>.size
        var index = [Int](repeating: 0, count: rank - 1)
        var base = 0 // element offset of (index…, 0) in the input
        var out = 0
        for _ in 0 ..< total / inner {
            var src = base * MemoryLayout<T>.size
            for _ in 0 ..< inner {
                output.storeBytes(of: input.loadUnaligned(fromByteOffset: src, as: T.self), toByteOffset: out, as: T.self)
                out += MemoryLayout<T>.size
                src += innerStride
            }
            var axis = rank - 2
            while axis >= 0 {
                index[axis] += 1
                base += strides[axis]
                if index[axis] < shape[axis] { break }
                base -= strides[axis] * shape[axis]
                index[axis] = 0
                axis -= 1
            }
        }
    }
}
