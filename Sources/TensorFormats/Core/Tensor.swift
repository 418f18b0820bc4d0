/// Name, element type and row-major shape of a tensor, with its byte length.
public struct TensorInfo: Sendable, Equatable {
    public var name: String
    public var dtype: DType
    /// Row-major (numpy / PyTorch order) whatever the file stores.
    public var shape: [Int]
    public var elementCount: Int
    /// Bytes of the tensor's logical row-major, little-endian representation.
    public var byteCount: Int

    /// Checks the shape and computes the sizes (throws on overflow or a partial block).
    public init(name: String, dtype: DType, shape: [Int]) throws {
        (elementCount, byteCount) = try Checked.byteCount(shape: shape, dtype: dtype)
        self.name = name
        self.dtype = dtype
        self.shape = shape
    }
}

/// Where a tensor's bytes lie verbatim in a file: row-major, little-endian, uncompressed.
public struct FileRegion: Sendable {
    public let file: MappedFile
    public let offset: Int
    public let count: Int

    /// `count` bytes from `offset` within this region (a row range of a tensor), or nil when they do not
    /// lie inside it.
    public func part(offset start: Int, count length: Int) -> FileRegion? {
        guard start >= 0, length >= 0, start <= count - length else { return nil }
        return FileRegion(file: file, offset: offset + start, count: length)
    }
}

/// Access to a tensor's data. Each format supplies its own kind: a plain range of a mapped file, a
/// byte-swapped or Fortran-ordered npy array, a deflated npz member, a strided PyTorch view...
public protocol TensorData: Sendable {
    /// The tensor's row-major, little-endian bytes, valid only inside `body`. Zero-copy when the file
    /// holds them verbatim; otherwise materialised into a temporary buffer for the call.
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R
    /// Set when the bytes lie verbatim in a file (enables zero-copy and `copy_file_range`).
    var fileRegion: FileRegion? { get }
    /// Lets go of cached pages once a tensor has been processed.
    func release()
}

extension TensorData {
    public func release() {
        if let region = fileRegion { region.file.release(offset: region.offset, count: region.count) }
    }
}

/// Tensor data computed from other bytes (byte-swapped, gathered, joined, transposed): `fill` writes all
/// `byteCount` bytes into a scratch buffer that lives for one `withBytes` call. The buffer comes from
/// `withScratchBuffer`, so a size the machine cannot allocate is an error, not an abort.
public protocol MaterializedTensorData: TensorData {
    /// Bytes `fill` writes.
    var byteCount: Int { get }
    /// What the bytes are, for the error when they cannot be allocated.
    var materializedWhat: String { get }
    func fill(_ buffer: UnsafeMutableRawBufferPointer) throws
}

extension MaterializedTensorData {
    public var fileRegion: FileRegion? { nil }
    public var materializedWhat: String { "a materialised tensor" }

    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        try withScratchBuffer(count: byteCount, for: materializedWhat) { buffer in
            try fill(buffer)
            return try body(UnsafeRawBufferPointer(buffer))
        }
    }
}

/// Tensor data that is a verbatim range of a mapped file.
public struct MappedTensorData: TensorData {
    public let region: FileRegion

    public init(file: MappedFile, offset: Int, count: Int) {
        region = FileRegion(file: file, offset: offset, count: count)
    }

    public var fileRegion: FileRegion? { region }

    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        try region.file.withBytes(offset: region.offset, count: region.count, body)
    }
}

/// A tensor of a checkpoint: what it is and how to reach its bytes.
public struct Tensor: Sendable {
    public let info: TensorInfo
    public let data: any TensorData
    /// The file that holds it, for checkpoints made of several files (shards); nil otherwise.
    public let file: String?

    public init(info: TensorInfo, data: any TensorData, file: String? = nil) {
        self.info = info
        self.data = data
        self.file = file
    }

    public var name: String { info.name }
    public var dtype: DType { info.dtype }
    public var shape: [Int] { info.shape }

    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        try data.withBytes(body)
    }
}

/// A tensor to be written: its description and a producer that streams exactly `info.byteCount`
/// row-major, little-endian bytes to the output. Writers lay out headers from `info` first, then call
/// the producers in order, so nothing but the tensor in flight is ever held in memory.
public struct OutputTensor {
    public var info: TensorInfo
    public var produce: (OutputFile) throws -> Void

    public init(info: TensorInfo, produce: @escaping (OutputFile) throws -> Void) {
        self.info = info
        self.produce = produce
    }

    /// Copies a stored tensor unchanged (in the kernel when its bytes lie verbatim in a file), then lets
    /// go of its pages.
    public init(copying tensor: Tensor, as name: String? = nil) {
        var info = tensor.info
        if let name { info.name = name }
        self.info = info
        produce = { output in
            if let region = tensor.data.fileRegion {
                try output.copy(from: region)
            } else {
                try tensor.withBytes { bytes in try output.write(bytes) }
            }
            tensor.data.release()
        }
    }

    /// Runs the producer and checks it wrote exactly the declared number of bytes.
    public func write(to output: OutputFile) throws {
        let start = output.position
        try produce(output)
        let written = output.position - start
        guard written == info.byteCount else {
            throw FormatError(.sizeMismatch(expected: info.byteCount, found: written), file: output.path,
                              at: .tensor(info.name))
        }
    }
}
