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
/// The view was validated against the storage when it was built (`TorchCalls`).
struct TorchTensorData: TensorData {
    let file: MappedFile
    /// Absolute file offset and byte length of the storage.
    let storageStart: Int
    let storageBytes: Int
    let dtype: DType
    let elementSize: Int
    let storageOffset: Int
    let sizes: [Int]
    let strides: [Int]
    let byteCount: Int
    /// The storage holds big-endian elements (`byteorder` = big).
    let bigEndian: Bool

    init(file: MappedFile, storageStart: Int, storageBytes: Int, tensor: TorchTensorRef, byteCount: Int,
         bigEndian: Bool) {
        self.file = file
        self.storageStart = storageStart
        self.storageBytes = storageBytes
        dtype = tensor.dtype
        elementSize = tensor.elementSize
        storageOffset = tensor.storageOffset
        sizes = tensor.sizes
        strides = tensor.strides
        self.byteCount = byteCount
        self.bigEndian = bigEndian
    }

    /// True when the elements lie in row-major order with no gaps (dimensions of size 1 have any stride).
    var isContiguous: Bool {
        var expected = 1
        for (size, stride) in zip(sizes, strides).reversed() where size != 1 {
            if size == 0 { return true }
            guard stride == expected else { return false }
            expected = expected &* size
        }
        return true
    }

    /// Byte range of the storage the view can touch (offset of its first element to past its last).
    var touchedRange: (offset: Int, count: Int) {
        guard byteCount > 0 else { return (storageStart, 0) }
        var last = storageOffset
        for (size, stride) in zip(sizes, strides) { last += (size - 1) * stride }
        return (storageStart + storageOffset * elementSize, (last + 1 - storageOffset) * elementSize)
    }

    var fileRegion: FileRegion? {
        guard !bigEndian || dtype.swapUnit == 1, isContiguous else { return nil }
        return FileRegion(file: file, offset: storageStart + storageOffset * elementSize, count: byteCount)
    }

    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        if let region = fileRegion {
            return try file.withBytes(offset: region.offset, count: region.count, body)
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(byteCount, 1), alignment: 16)
        defer { buffer.deallocate() }
        let output = UnsafeMutableRawBufferPointer(rebasing: buffer[0 ..< byteCount])
        file.withBytes(offset: storageStart, count: storageBytes) { storage in
            gather(from: storage, into: output)
        }
        if bigEndian { TorchTensorData.swapBytes(output, unit: dtype.swapUnit) }
        return try body(UnsafeRawBufferPointer(output))
    }

    func release() {
        let range = touchedRange
        file.release(offset: range.offset, count: range.count)
    }

    /// Copies the view's elements in row-major order. Size-1 dimensions are dropped and dimensions that
    /// are contiguous with the next one are merged, so a sliced view copies whole runs at a time.
    private func gather(from storage: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) {
        guard byteCount > 0, let source = storage.baseAddress, let destination = output.baseAddress else { return }
        var dims: [(size: Int, stride: Int)] = []
        for (size, stride) in zip(sizes, strides) where size != 1 {
            if let last = dims.last, last.stride == stride * size {
                dims[dims.count - 1] = (last.size * size, stride)
            } else {
                dims.append((size, stride))
            }
        }
        // The innermost run: contiguous elements copied with one memcpy.
        var runElements = 1
        if let last = dims.last, last.stride == 1 {
            runElements = last.size
            dims.removeLast()
        }
        let runBytes = runElements * elementSize
        let base = source + storageOffset * elementSize
        var index = [Int](repeating: 0, count: dims.count)
        var sourceOffset = 0
        var written = 0
        while written < byteCount {
            memcpy(destination + written, base + sourceOffset * elementSize, runBytes)
            written += runBytes
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
