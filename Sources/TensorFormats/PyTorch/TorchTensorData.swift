#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The bytes of a PyTorch tensor: a strided view (sizes, strides, offset in elements) of a storage that
/// lies verbatim in a mapped file.
///
/// A contiguous little-endian view is a plain range of the file (zero-copy, `fileRegion` set). Anything
/// else — transposed or sliced views, views sharing a storage with other tensors, big-endian storages — is
/// gathered into row-major little-endian order only inside `withBytes`, so listing never touches data.
/// The view was validated against the storage when it was built (`TorchTensorRef.init`): its offset and
/// extent in bytes lie inside the storage, whose bytes lie inside the file (checked by the container
/// reader), so the ranges below need no arithmetic that could overflow.
struct TorchTensorData: TensorData {
    let file: MappedFile
    /// The tensor's name, for errors raised while its bytes are gathered.
    let name: String
    /// Where the storage's bytes lie in the file, and their byte order.
    let storage: TorchStorageLocation
    /// The view, checked against its storage when it was built.
    let view: TorchTensorRef
    let byteCount: Int

    init(file: MappedFile, name: String, storageStart: Int, storageBytes: Int, tensor: TorchTensorRef, byteCount: Int,
         bigEndian: Bool) {
        self.file = file
        self.name = name
        storage = TorchStorageLocation(start: storageStart, byteCount: storageBytes, bigEndian: bigEndian)
        view = tensor
        self.byteCount = byteCount
    }

    private var elementSize: Int { view.elementSize }

    /// True when the elements lie in row-major order with no gaps (dimensions of size 1 have any stride).
    var isContiguous: Bool {
        var expected = 1
        for (size, stride) in zip(view.sizes, view.strides).reversed() where size != 1 {
            if size == 0 { return true }
            guard stride == expected else { return false }
            expected = expected &* size
        }
        return true
    }

    /// Byte range of the file the view can touch (its first element to past its last; empty for an empty view).
    var touchedRange: (offset: Int, count: Int) {
        (storage.start + view.offsetBytes, view.extentBytes)
    }

    var fileRegion: FileRegion? {
        guard !storage.bigEndian || view.dtype.swapUnit == 1, isContiguous else { return nil }
        // Contiguous: the row-major bytes are exactly the extent (nothing at all for an empty view).
        return FileRegion(file: file, offset: storage.start + view.offsetBytes, count: byteCount)
    }

    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        if let region = fileRegion {
            return try file.withBytes(offset: region.offset, count: region.count, body)
        }
        // Non-contiguous views materialise `byteCount` bytes: the checkpoint's materialisation cap
        // (`TorchMaterialization`) bounds what they add beyond the storage bytes in the file.
        // malloc, not Swift's allocator (which aborts): a failure is an error naming the file and tensor.
        guard let raw = malloc(max(byteCount, 1)) else {
            throw FormatError(.limitExceeded(what: "memory for a strided view (sizes \(view.sizes), strides \(view.strides))",
                                             value: "\(byteCount) bytes", limit: "what the system could allocate"),
                              file: file.path, at: .tensor(name))
        }
        defer { free(raw) }
        let buffer = UnsafeMutableRawBufferPointer(start: raw, count: byteCount)
        try file.withBytes(offset: storage.start, count: storage.byteCount) { storage in
            gather(from: storage, into: buffer)
        }
        if storage.bigEndian { TorchTensorData.swapBytes(buffer, unit: view.dtype.swapUnit) }
        return try body(UnsafeRawBufferPointer(buffer))
    }

    func release() {
        let range = touchedRange
        file.release(offset: range.offset, count: range.count)
    }

    /// Copies the view's elements in row-major order. Size-1 dimensions are dropped and dimensions that
    /// are contiguous with the next one are merged, so a sliced view copies whole runs at a time; when the
    /// innermost dimension is strided (a transpose), the two innermost dimensions are copied in square
    /// tiles so reads and writes both stay within a few cache lines.
    private func gather(from storage: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) {
        guard byteCount > 0, let source = storage.baseAddress, let destination = output.baseAddress else { return }
        var dims: [(size: Int, stride: Int)] = []
        for (size, stride) in zip(view.sizes, view.strides) where size != 1 {
            if let last = dims.last, last.stride == stride * size {
                dims[dims.count - 1] = (last.size * size, stride)
            } else {
                dims.append((size, stride))
            }
        }
        let base = source + view.offsetBytes
        // The kernel for the innermost one or two dimensions, called once per index of the outer ones.
        let inner: (_ from: UnsafeRawPointer, _ to: UnsafeMutableRawPointer) -> Void
        let innerBytes: Int
        if dims.isEmpty {
            // One element (a 0-d tensor, or only size-1 dimensions).
            let bytes = elementSize
            innerBytes = bytes
            inner = { from, to in memcpy(to, from, bytes) }
        } else if let last = dims.last, last.stride == 1 {
            // Contiguous rows: one memcpy each.
            let runBytes = last.size * elementSize
            dims.removeLast()
            innerBytes = runBytes
            inner = { from, to in memcpy(to, from, runBytes) }
        } else if dims.count >= 2 {
            let columns = dims.removeLast(), rows = dims.removeLast()
            innerBytes = rows.size * columns.size * elementSize
            let size = elementSize
            inner = { from, to in
                TorchTensorData.copyTiled(from: from, to: to, rows: rows, columns: columns, elementSize: size)
            }
        } else {
            let column = dims.removeLast()
            innerBytes = column.size * elementSize
            let size = elementSize
            inner = { from, to in
                TorchTensorData.copyTiled(from: from, to: to, rows: (1, 0), columns: column, elementSize: size)
            }
        }
        var index = [Int](repeating: 0, count: dims.count)
        var sourceOffset = 0
        var written = 0
        while written < byteCount {
            inner(base + sourceOffset * elementSize, destination + written)
            written += innerBytes
            // Advance the odometer over the outer dimensions.
            var axis = dims.count - 1
            while axis >= 0 {
                index[axis] += 1
                sourceOffset += dims[axis].stride
                if index[axis] < dims[axis].size { break }
                sourceOffset -= dims[axis].stride * dims[axis].size
                index[axis] = 0
                axis -= 1
            }
            if axis < 0 { break }
        }
    }

    /// `to[r][c] = from[r × rows.stride + c × columns.stride]` (strides in elements), in 32 × 32 tiles.
    static func copyTiled(from: UnsafeRawPointer, to: UnsafeMutableRawPointer, rows: (size: Int, stride: Int),
                          columns: (size: Int, stride: Int), elementSize: Int) {
        switch elementSize {
        case 1: copyTiled(from, to, rows, columns, UInt8.self)
        case 2: copyTiled(from, to, rows, columns, UInt16.self)
        case 4: copyTiled(from, to, rows, columns, UInt32.self)
        case 8: copyTiled(from, to, rows, columns, UInt64.self)
        default:
            for row in 0 ..< rows.size {
                for column in 0 ..< columns.size {
                    memcpy(to + (row * columns.size + column) * elementSize,
                           from + (row * rows.stride + column * columns.stride) * elementSize, elementSize)
                }
            }
        }
    }

    private static func copyTiled<Element>(_ from: UnsafeRawPointer, _ to: UnsafeMutableRawPointer,
                                           _ rows: (size: Int, stride: Int), _ columns: (size: Int, stride: Int),
                                           _: Element.Type) {
        // Column blocks outside: a block's source elements (for a transpose, `tile` source rows) are then
        // consumed in order, which the hardware prefetcher follows.
        let tile = 32
        for columnStart in stride(from: 0, to: columns.size, by: tile) {
            let columnEnd = min(columnStart + tile, columns.size)
            for rowStart in stride(from: 0, to: rows.size, by: tile) {
                let rowEnd = min(rowStart + tile, rows.size)
                for row in rowStart ..< rowEnd {
                    let target = to.advanced(by: row * columns.size * MemoryLayout<Element>.size)
                    let origin = from.advanced(by: row * rows.stride * MemoryLayout<Element>.size)
                    for column in columnStart ..< columnEnd {
                        let value = origin.loadUnaligned(fromByteOffset: column * columns.stride * MemoryLayout<Element>.size,
                                                         as: Element.self)
                        target.storeBytes(of: value, toByteOffset: column * MemoryLayout<Element>.size, as: Element.self)
                    }
                }
            }
        }
    }

    static func swapBytes(_ buffer: UnsafeMutableRawBufferPointer, unit: Int) {
        guard unit > 1, let base = buffer.baseAddress else { return }
        let count = buffer.count / unit
        switch unit {
        case 2:
            let words = base.assumingMemoryBound(to: UInt16.self)
            for index in 0 ..< count { words[index] = words[index].byteSwapped }
        case 4:
            let words = base.assumingMemoryBound(to: UInt32.self)
            for index in 0 ..< count { words[index] = words[index].byteSwapped }
        case 8:
            let words = base.assumingMemoryBound(to: UInt64.self)
            for index in 0 ..< count { words[index] = words[index].byteSwapped }
        default:
            for index in 0 ..< count {
                var low = index * unit, high = low + unit - 1
                while low < high {
                    buffer.swapAt(low, high)
                    low += 1
                    high -= 1
                }
            }
        }
    }
}
