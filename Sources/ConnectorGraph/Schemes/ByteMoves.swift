import TensorFormats

// Tensor data made by moving another tensor's bytes: a range of its rows, several tensors one after the
// other, or a 2-D transpose element by element. Values are never decoded or re-rounded, so a split or a
// transpose of f16 data is exact. Each is lazy: nothing is read until a writer asks for the bytes.

/// A contiguous byte range of another tensor's data: rows `[first, first + count)` along axis 0 of a
/// row-major tensor. Lies verbatim in a file whenever the source does, so writers copy it in the kernel.
struct RowRangeData: TensorData {
    let source: any TensorData
    let offset: Int
    let count: Int

    var fileRegion: FileRegion? {
        source.fileRegion?.part(offset: offset, count: count)
    }

    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        try source.withBytes { all in
            guard offset >= 0, count >= 0, offset <= all.count &- count else {
                throw FormatError(.truncated(what: "a row range of a tensor", needed: offset &+ count, available: all.count))
            }
            return try body(UnsafeRawBufferPointer(rebasing: all[offset ..< offset + count]))
        }
    }

    func release() {
        if let region = fileRegion { region.file.release(offset: region.offset, count: region.count) } else { source.release() }
    }
}

/// Several tensors' bytes one after the other: parts joined along axis 0 (q, k and v into one fused
/// projection). Materialised for the call.
struct ConcatenatedData: MaterializedTensorData {
    let parts: [Tensor]
    let count: Int

    var byteCount: Int { count }

    func fill(_ buffer: UnsafeMutableRawBufferPointer) throws {
        var position = 0
        for part in parts {
            try part.withBytes { bytes in
                guard bytes.count <= count - position else {
                    throw FormatError(.sizeMismatch(expected: count - position, found: bytes.count), at: .tensor(part.name))
                }
                UnsafeMutableRawBufferPointer(rebasing: buffer[position ..< position + bytes.count]).copyMemory(from: bytes)
                position += bytes.count
            }
        }
        guard position == count else { throw FormatError(.sizeMismatch(expected: count, found: position)) }
    }

    func release() { for part in parts { part.data.release() } }
}

/// The transpose of a row-major `[rows, columns]` tensor whose elements are `elementBytes` bytes each.
/// Materialised for the call, in tiles that stay in cache.
struct TransposedData: MaterializedTensorData {
    let source: Tensor
    let rows: Int
    let columns: Int
    let elementBytes: Int

    var byteCount: Int { source.info.byteCount }

    func fill(_ buffer: UnsafeMutableRawBufferPointer) throws {
        let count = byteCount
        try source.withBytes { input in
            guard input.count == count, count == rows * columns * elementBytes else {
                throw FormatError(.sizeMismatch(expected: count, found: input.count), at: .tensor(source.name))
            }
            switch elementBytes {
            case 1: Self.transpose(input, into: buffer, rows: rows, columns: columns, as: UInt8.self)
            case 2: Self.transpose(input, into: buffer, rows: rows, columns: columns, as: UInt16.self)
            case 4: Self.transpose(input, into: buffer, rows: rows, columns: columns, as: UInt32.self)
            default: Self.transpose(input, into: buffer, rows: rows, columns: columns, as: UInt64.self)
            }
        }
    }

    func release() { source.data.release() }

    /// `output[j][i] = input[i][j]`, 32×32 tiles at a time (unaligned loads and stores).
    static func transpose<T: FixedWidthInteger>(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer,
                                                rows: Int, columns: Int, as: T.Type) {
        guard rows > 0, columns > 0, let source = input.baseAddress, let target = output.baseAddress else { return }
        let size = MemoryLayout<T>.size
        let tile = 32
        var rowStart = 0
        while rowStart < rows {
            let rowEnd = min(rowStart + tile, rows)
            var columnStart = 0
            while columnStart < columns {
                let columnEnd = min(columnStart + tile, columns)
                for i in rowStart ..< rowEnd {
                    for j in columnStart ..< columnEnd {
                        let value = source.loadUnaligned(fromByteOffset: (i * columns + j) * size, as: T.self)
                        target.storeBytes(of: value, toByteOffset: (j * rows + i) * size, as: T.self)
                    }
                }
                columnStart = columnEnd
            }
            rowStart = rowEnd
        }
    }
}

/// A tensor's values as little-endian f32 (a block type decoded: gguf-py's values), for the call.
struct Float32Data: TensorData {
    let source: Tensor

    var fileRegion: FileRegion? { nil }

    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let values = try source.floats()
        return try values.withUnsafeBytes(body)
    }

    func release() { source.data.release() }
}

extension Tensor {
    /// The same data under another name and shape (a rename, a squeeze or an unsqueeze).
    func reshaped(_ name: String, _ shape: [Int]) throws -> Tensor {
        Tensor(info: try TensorInfo(name: name, dtype: dtype, shape: shape), data: data, file: file)
    }
}
