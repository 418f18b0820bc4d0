/// Data of a plain-typed tensor in a big-endian GGUF file: each element is byte-swapped into the
/// little-endian bytes every `TensorData` promises, in a temporary buffer for the duration of the call.
struct ByteSwappedTensorData: MaterializedTensorData {
    let region: FileRegion
    /// Bytes per swapped unit (2, 4 or 8).
    let unit: Int

    init(file: MappedFile, offset: Int, count: Int, unit: Int) {
        precondition([2, 4, 8].contains(unit) && count % unit == 0, "swap unit must divide the tensor")
        region = FileRegion(file: file, offset: offset, count: count)
        self.unit = unit
    }

    var byteCount: Int { region.count }
    var materializedWhat: String { "a byte-swapped tensor" }

    func fill(_ buffer: UnsafeMutableRawBufferPointer) throws {
        try region.file.withBytes(offset: region.offset, count: region.count) { source in
            switch unit {
            case 2: swapElements(UInt16.self, from: source, into: buffer, count: source.count)
            case 4: swapElements(UInt32.self, from: source, into: buffer, count: source.count)
            default: swapElements(UInt64.self, from: source, into: buffer, count: source.count)
            }
        }
    }

    func release() {
        region.file.release(offset: region.offset, count: region.count)
    }
}

private func swapElements<T: FixedWidthInteger>(_: T.Type, from source: UnsafeRawBufferPointer,
                                                into target: UnsafeMutableRawBufferPointer, count: Int) {
    let size = MemoryLayout<T>.size
    var offset = 0
    while offset < count {
        let value = source.loadUnaligned(fromByteOffset: offset, as: T.self)
        target.storeBytes(of: value.byteSwapped, toByteOffset: offset, as: T.self)
        offset += size
    }
}

/// A block-quantized tensor in a big-endian GGUF file. Its place in the file is validated and it can be
/// listed, but its bytes cannot be delivered as little-endian blocks: writers disagree on what a
/// big-endian block holds (gguf-py's writer leaves block bytes as they are, its `gguf_convert_endian`
/// swaps the f16 scale fields of a few types, other types have u16 arrays inside), so reading the data
/// is refused rather than guessed.
struct BigEndianBlockTensorData: TensorData {
    let region: FileRegion
    let name: String
    let dtype: DType

    var fileRegion: FileRegion? { nil }

    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        throw FormatError(
            .unsupportedFormat(
                "the \(dtype.rawValue) blocks of a big-endian GGUF file have no defined byte order inside "
                    + "the block; connkit lists such tensors but does not read their data"),
            file: region.file.path, at: .tensor(name))
    }

    func release() {
        region.file.release(offset: region.offset, count: region.count)
    }
}
