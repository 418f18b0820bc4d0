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
///
/// Only regular files are opened: a FIFO, socket or device is refused from its `stat` before any `open`
/// (opening a FIFO without a writer blocks for ever, and opening a device can have side effects), and the
/// descriptor is opened non-blocking and checked again with `fstat` in case the path changed in between.
/// Nothing in a file's contents can reach a trap here: byte ranges outside the mapping are thrown errors.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let size: Int
    /// Kept open for `copy_file_range` (byte-identical copies without touching the mapping); -1 for an
    /// anonymous mapping.
    public let descriptor: Int32
    private let base: UnsafeRawPointer?
    /// The slot in `ProcessGuard`'s table of mapped inputs (-1: none), so a SIGBUS inside the mapping is
    /// reported as this file having changed.
    private var guardSlot: Int32 = -1

    public init(path: String) throws {
        self.path = path
        var info = stat()
        guard stat(path, &info) == 0 else { throw FormatError(.io(operation: "open", message: errnoText()), file: path) }
        try MappedFile.requireRegular(info, path: path)
        // O_NONBLOCK: should the path have become a FIFO since the stat, open returns at once instead of
        // waiting for a writer; for a regular file the flag changes nothing.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else { throw FormatError(.io(operation: "open", message: errnoText()), file: path) }
        guard fstat(fd, &info) == 0 else {
            let message = errnoText()
            close(fd)
            throw FormatError(.io(operation: "stat", message: message), file: path)
        }
        do { try MappedFile.requireRegular(info, path: path) } catch {
            close(fd)
            throw error
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
        if let base { guardSlot = ProcessGuard.registerMapping(base, count: size, path: path) }
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
        ProcessGuard.unregisterMapping(guardSlot)
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), size) }
        if descriptor >= 0 { close(descriptor) }
    }

    /// The whole file. Valid only inside `body`.
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: base, count: size))
    }

    /// `count` bytes at `offset`. Readers validate their ranges against `size`; one that did not gets a
    /// thrown `.truncated` error naming the file, never a trap.
    public func withBytes<R>(offset: Int, count: Int, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard offset >= 0, count >= 0, offset <= size, count <= size - offset else {
            throw FormatError(.truncated(what: "data of \(count) bytes", needed: count,
                                         available: offset >= 0 && offset <= size ? size - offset : 0),
                              file: path, at: .byte(offset))
        }
        guard let base else { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        return try body(UnsafeRawBufferPointer(start: base + offset, count: count))
    }

    /// Tells the kernel the pages of this range are no longer needed (they are re-read from the file
    /// if touched again). Keeps peak RSS flat while streaming a large checkpoint. A no-op for an anonymous
    /// mapping, whose dropped pages would read back as zeros.
    public func release(offset: Int, count: Int) {
        guard descriptor >= 0 else { return }
        advise(offset: offset, count: count, Int32(MADV_DONTNEED))
    }

    /// A hint for the pages of a range, clipped to the mapping (a hint never fails or traps).
    private func advise(offset: Int, count: Int, _ advice: Int32) {
        guard let base, count > 0, offset >= 0, offset < size else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (offset / page) * page
        let end = count < size - offset ? offset + count : size
        _ = madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, advice)
    }

    /// Throws `.inputChanged` when the file is no longer as large as when it was mapped (another process
    /// truncated it): what a failed or short copy from it, or a bad address in a write from its mapping,
    /// means. Does nothing for an anonymous mapping.
    public func checkUnchanged() throws {
        guard descriptor >= 0 else { return }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { return }
        let now = Int(info.st_size)
        guard now >= size else {
            throw FormatError(.inputChanged("it was \(size) bytes when connkit mapped it and is \(now) bytes now; "
                + "it must not be modified while connkit reads it"), file: path)
        }
    }

    /// Refuses anything but a regular file, naming what it is.
    private static func requireRegular(_ info: stat, path: String) throws {
        let kind: String
        switch info.st_mode & S_IFMT {
        case S_IFREG: return
        case S_IFDIR: kind = "a directory"
        case S_IFIFO: kind = "a FIFO (named pipe)"
        case S_IFSOCK: kind = "a socket"
        case S_IFCHR: kind = "a character device"
        case S_IFBLK: kind = "a block device"
        default: kind = "not a regular file"
        }
        throw FormatError(.io(operation: "open", message: "\(kind), not a regular file: connkit reads tensors from regular files only"),
                          file: path)
    }
}

func errnoText(_ code: Int32 = errno) -> String {
    String(cString: strerror(code))
}
