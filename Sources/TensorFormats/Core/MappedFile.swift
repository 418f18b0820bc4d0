#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only memory mapping of a whole file.
///
/// Readers parse the bytes of the mapping; tensor data stays in it and is only ever lent out through
/// `withBytes`, so no pointer outlives the mapping. `release(_:)` drops pages a conversion has finished
/// with, so the resident set does not grow with the checkpoint.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let size: Int
    /// Kept open for `copy_file_range` (byte-identical copies without touching the mapping); -1 for an
    /// anonymous mapping.
    public let descriptor: Int32
    private let base: UnsafeRawPointer?

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FormatError(.io(operation: "open", message: errnoText()), file: path) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let message = errnoText()
            close(fd)
            throw FormatError(.io(operation: "stat", message: message), file: path)
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw FormatError(.io(operation: "open", message: "not a regular file"), file: path)
        }
        let size = Int(info.st_size)
        if size > 0 {
            guard let mapping = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), mapping != MAP_FAILED else {
                let message = errnoText()
                close(fd)
                throw FormatError(.io(operation: "mmap", message: message), file: path)
            }
            base = UnsafeRawPointer(mapping)
        } else {
            base = nil
        }
        self.size = size
        self.descriptor = fd
    }

    /// An anonymous mapping holding a copy of `bytes`, read like a file named `path` (fuzzers, tests and
    /// members extracted from archives). It has no descriptor, so copies go through the mapping.
    public init(copying bytes: UnsafeRawBufferPointer, path: String) throws {
        self.path = path
        self.size = bytes.count
        self.descriptor = -1
        if bytes.count > 0 {
            guard let mapping = mmap(nil, bytes.count, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
                  mapping != MAP_FAILED else {
                throw FormatError(.io(operation: "mmap", message: errnoText()), file: path)
            }
            mapping.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
            mprotect(mapping, bytes.count, PROT_READ)
            base = UnsafeRawPointer(mapping)
        } else {
            base = nil
        }
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), size) }
        if descriptor >= 0 { close(descriptor) }
    }

    /// The whole file. Valid only inside `body`.
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: base, count: size))
    }

    /// `count` bytes at `offset`; the range must have been validated against `size` by the reader.
    public func withBytes<R>(offset: Int, count: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        precondition(offset >= 0 && count >= 0 && offset <= size && count <= size - offset,
                     "byte range outside the mapping (a reader did not validate it)")
        guard let base else { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        return try body(UnsafeRawBufferPointer(start: base + offset, count: count))
    }

    /// Tells the kernel the pages of this range are no longer needed (they are re-read from the file
    /// if touched again). Keeps peak RSS flat while streaming a large checkpoint. A no-op for an anonymous
    /// mapping, whose dropped pages would read back as zeros.
    public func release(offset: Int, count: Int) {
        guard descriptor >= 0 else { return }
        advise(MADV_DONTNEED, offset: offset, count: count)
    }

    /// Hints sequential access for a range about to be streamed.
    public func adviseSequential(offset: Int, count: Int) {
        advise(MADV_WILLNEED, offset: offset, count: count)
    }

    /// `madvise` over the pages covering `count` bytes at `offset` (clipped to the file).
    private func advise(_ advice: Int32, offset: Int, count: Int) {
        guard let base, count > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (offset / page) * page
        let end = min(size, offset + count)
        guard end > start else { return }
        _ = madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, advice)
    }
}

func errnoText(_ code: Int32 = errno) -> String {
    String(cString: strerror(code))
}
