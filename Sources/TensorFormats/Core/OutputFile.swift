#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CConnkit
import Dispatch
import Synchronization

/// An output written atomically: bytes go to a temporary file beside the target, which replaces the
/// target only in `commit()`. A failure, a full disk or a kill never leaves a partial file at the target.
///
/// Without `overwrite`, an existing target is refused up front and the final step uses `link` (which
/// fails if the name appeared meanwhile) instead of `rename`. Writing over one of `inputs` is refused
/// even with `overwrite`.
///
/// The temporary file is held under an exclusive `flock` and registered with `ProcessGuard`: a signal
/// removes it, and a write after a `kill -9` removes the one the killed writer left (`TemporaryOutput`).
///
/// Writes are double-buffered: a full buffer is handed to a background queue for `write(2)` while the
/// producer fills the other one, so computing bytes (casts, quantization) overlaps with the kernel's copy
/// into the page cache. `flush()` waits until everything is in the file.
public final class OutputFile {
    public let path: String
    public let temporaryPath: String
    public private(set) var position = 0
    /// Called with `position` each time a full buffer is handed to the writer (about every MiB) and after
    /// a kernel copy: progress within a tensor.
    public var progress: ((Int) -> Void)?
    private var descriptor: Int32
    private let temporary: TemporaryOutput
    private let overwrite: Bool
    /// Two buffers: the producer fills `buffers[current]` while the other may be in flight.
    private var buffers: [UnsafeMutableRawBufferPointer]
    private var current = 0
    private var buffered = 0
    private var finished = false
    private let writer = DispatchQueue(label: "connkit.output")
    private let inFlight = DispatchGroup()
    private let failure = FailureBox()

    /// Also the largest single write(2): on Linux, multi-megabyte writes into the page cache were measured
    /// several times slower per byte than 1 MiB ones.
    private static let bufferSize = 1 << 20

    private var buffer: UnsafeMutableRawBufferPointer { buffers[current] }

    public init(path: String, overwrite: Bool, inputs: [String] = []) throws {
        self.path = path
        self.overwrite = overwrite
        try OutputFile.refuseFolder(path)
        var target = stat()
        if stat(path, &target) == 0 {
            for input in inputs {
                var source = stat()
                if stat(input, &source) == 0, source.st_dev == target.st_dev, source.st_ino == target.st_ino {
                    throw FormatError(.refused("the output is the input file \(input); connkit never writes over an input"),
                                      file: path, code: .outputExists)
                }
            }
            if !overwrite {
                throw FormatError(.refused("the output already exists (use --force to replace it)"), file: path, code: .outputExists)
            }
        }
        temporary = try TemporaryOutput.create(for: path)
        descriptor = temporary.descriptor
        temporaryPath = temporary.path
        buffers = (0 ..< 2).map { _ in UnsafeMutableRawBufferPointer.allocate(byteCount: OutputFile.bufferSize, alignment: 64) }
    }

    /// Refuses an existing folder as an output path, whatever `--force` says.
    public static func refuseFolder(_ path: String) throws {
        var target = stat()
        guard stat(path, &target) == 0, (target.st_mode & S_IFMT) == S_IFDIR else { return }
        // The file name suggested inside keeps the folder's extension when it names an output format.
        let fileExtension = CheckpointReader.fileExtension(path)
        let name = ["gguf", "npz", "npy", "onnx"].contains(fileExtension) ? "model." + fileExtension : "model.safetensors"
        let inside = (path.hasSuffix("/") ? path : path + "/") + name
        throw FormatError(.refused("the output is a folder; give a file name (\(inside), say)"), file: path, code: .outputExists)
    }

    deinit {
        if !finished { abandon() }
        inFlight.wait()
        for buffer in buffers { buffer.deallocate() }
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0 else { return }
        if pendingCopy != nil {
            if continuesPendingCopy(bytes) { return }
            try runPendingCopy()
        }
        if buffered + bytes.count <= buffer.count {
            UnsafeMutableRawBufferPointer(rebasing: buffer[buffered ..< buffered + bytes.count]).copyMemory(from: bytes)
            buffered += bytes.count
        } else {
            try handOff()
            if bytes.count >= buffer.count / 2 {
                try flush()
                try writeFully(bytes)
            } else {
                UnsafeMutableRawBufferPointer(rebasing: buffer[0 ..< bytes.count]).copyMemory(from: bytes)
                buffered = bytes.count
            }
        }
        position += bytes.count
    }

    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { raw in try self.write(raw) }
    }

    public func write(_ text: String) throws {
        try write(Array(text.utf8))
    }

    public func writeLE<T: FixedWidthInteger>(_ value: T) throws {
        var little = value.littleEndian
        try withUnsafeBytes(of: &little) { raw in try self.write(raw) }
    }

    public func writeZeros(_ count: Int) throws {
        var left = count
        let zeros = [UInt8](repeating: 0, count: min(count, 65536))
        while left > 0 {
            let chunk = min(left, zeros.count)
            try write(Array(zeros[0 ..< chunk]))
            left -= chunk
        }
    }

    /// Pads with zero bytes to the next multiple of `alignment`.
    public func pad(to alignment: Int) throws {
        let remainder = position % alignment
        if remainder != 0 { try writeZeros(alignment - remainder) }
    }

    /// Copies a range of a file in the kernel (`copy_file_range`) when the input and output offsets agree
    /// within a page and the kernel can, else writes it from the mapping.
    ///
    /// Copies are coalesced: a range that continues the previous one in the same file extends it, and so
    /// do small writes of exactly the bytes the source holds next (the zero padding between tensors that
    /// lie in the same layout in both files), so a run of unchanged tensors becomes a few kernel copies of
    /// up to 64 MiB — measured here, 190 `copy_file_range` calls over 600 MB took about 1.5 times one call.
    public func copy(from region: FileRegion) throws {
        guard region.count > 0 else { return }
        if let pending = pendingCopy, pending.file === region.file, pending.offset + pending.count == region.offset {
            pendingCopy?.count += region.count
        } else {
            try flush()
            pendingCopy = PendingCopy(file: region.file, offset: region.offset, count: region.count)
        }
        position += region.count
        // Runs of at most about 64 MiB, so progress follows the copying.
        if let pending = pendingCopy, pending.count >= OutputFile.coalescedCopyBytes { try runPendingCopy() }
    }

    static let coalescedCopyBytes = 64 << 20
    static let pageSize = 4096

    /// Output offsets kernel copies are split at. Measured here (ext4, Linux 6.18, a 600 MB copy whose
    /// source and output offsets agree modulo the page size): a copy that starts 4 KiB past a multiple of
    /// 64 KiB costs about 1.5 times the system time of one that starts on it (0.21 s against 0.14 s), and
    /// splitting it there costs one more call.
    static let copyAlignment = 64 << 10

    /// A kernel copy not yet made: it ends at `position`, and nothing is buffered behind it.
    private struct PendingCopy {
        let file: MappedFile
        let offset: Int
        var count: Int
    }

    private var pendingCopy: PendingCopy?

    /// Extends the pending copy by `bytes` when the source continues with exactly them.
    private func continuesPendingCopy(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let pending = pendingCopy, bytes.count <= 4096 else { return false }
        let next = pending.offset + pending.count
        guard next <= pending.file.size - bytes.count,
              (try? pending.file.withBytes(offset: next, count: bytes.count) { $0.elementsEqual(bytes) }) == true else { return false }
        pendingCopy?.count += bytes.count
        position += bytes.count
        return true
    }

    /// Makes the pending copy: in the kernel when possible, else from the mapping.
    private func runPendingCopy() throws {
        guard let region = pendingCopy else { return }
        pendingCopy = nil
        let start = position - region.count
        var inOffset = Int64(region.offset)
        var outOffset = Int64(start)
        var left = region.count
        // The kernel copies pages fast only between offsets that agree within a page; otherwise it copies
        // through the page cache byte by byte, slower than a write from the mapping (a 1 GiB export whose
        // offsets differ by 24 bytes: 1.9× `cp` against 1.1–1.3× from the mapping).
        var usedKernelCopy = region.file.descriptor >= 0 && (region.offset - start) % OutputFile.pageSize == 0
        while usedKernelCopy, left > 0 {
            // Split at the first multiple of `copyAlignment` in the output (faster from there; see it).
            let misalignment = Int(outOffset % Int64(OutputFile.copyAlignment))
            let chunk = misalignment != 0 && left > OutputFile.copyAlignment - misalignment ? OutputFile.copyAlignment - misalignment : left
            let copied = ck_copy_file_range(region.file.descriptor, &inOffset, descriptor, &outOffset, chunk)
            if copied < 0 && errno == EINTR { continue }
            if copied <= 0 {
                let code = errno
                // The end of the input before the end of the tensor, or a failure: an input that shrank is
                // the input's fault, whatever the call said.
                try region.file.checkUnchanged()
                if copied < 0, [EFBIG, ENOSPC, EDQUOT, EIO].contains(code) {
                    throw FormatError(.io(operation: "write", message: errnoText(code)), file: path)
                }
                usedKernelCopy = false
                break
            }
            left -= copied
        }
        if usedKernelCopy {
            _ = lseek(descriptor, off_t(position), SEEK_SET)
            progress?(position)
            return
        }
        // Offsets that differ within a page, or no kernel copy (other file systems, old kernels): write the
        // rest from the mapping.
        let done = region.count - left
        _ = lseek(descriptor, off_t(start + done), SEEK_SET)
        position = start + done
        do {
            try region.file.withBytes(offset: region.offset + done, count: left) { bytes in
                try write(bytes)
            }
            // The producer released its pages before this deferred copy touched them.
            region.file.release(offset: region.offset + done, count: left)
        } catch {
            // A write(2) straight from a mapping whose pages are gone fails with EFAULT ("Bad address"):
            // the input changed, not the output.
            try region.file.checkUnchanged()
            throw error
        }
    }

    /// Lends the next `count` bytes of the output to `body`, which must fill all of them: producers that
    /// compute their bytes write them in place instead of into a buffer of their own that is then copied.
    /// `count` must be at most `maxLendableBytes`.
    public func withUnsafeOutputBuffer(count: Int, _ body: (UnsafeMutableRawBufferPointer) throws -> Void) throws {
        precondition(count >= 0 && count <= OutputFile.maxLendableBytes, "lend at most maxLendableBytes")
        try runPendingCopy()
        if buffered + count > buffer.count { try handOff() }
        try body(UnsafeMutableRawBufferPointer(rebasing: buffer[buffered ..< buffered + count]))
        buffered += count
        position += count
    }

    /// The largest span `withUnsafeOutputBuffer` lends.
    public static let maxLendableBytes = bufferSize

    /// Queues the current buffer for writing and switches to the other one (after its write finished).
    private func handOff() throws {
        guard buffered > 0 else { return }
        inFlight.wait()
        try failure.rethrow()
        let full = UnsafeRawBufferPointer(rebasing: buffer[0 ..< buffered])
        let fd = descriptor, path = self.path, failure = self.failure
        let job = UncheckedSendable(full)
        writer.async(group: inFlight) {
            do { try OutputFile.writeFully(job.value, to: fd, path: path) } catch { failure.record(error) }
        }
        current ^= 1
        buffered = 0
        progress?(position)
    }

    /// Writes everything buffered so far to the file and waits for it.
    public func flush() throws {
        try runPendingCopy()
        try handOff()
        inFlight.wait()
        try failure.rethrow()
    }

    private func writeFully(_ bytes: UnsafeRawBufferPointer) throws {
        try OutputFile.writeFully(bytes, to: descriptor, path: path)
    }

    private static func writeFully(_ bytes: UnsafeRawBufferPointer, to descriptor: Int32, path: String) throws {
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(descriptor, bytes.baseAddress! + offset, min(bytes.count - offset, bufferSize))
            if written < 0 {
                if errno == EINTR { continue }
                throw FormatError(.io(operation: "write", message: errnoText()), file: path)
            }
            offset += written
        }
    }

    /// Makes the output appear at `path`, complete.
    public func commit() throws {
        precondition(!finished, "OutputFile committed twice")
        do {
            try flush()
        } catch {
            abandon()
            throw error
        }
        let closed = close(descriptor)
        descriptor = -1
        guard closed == 0 else {
            let message = errnoText()
            abandon()
            throw FormatError(.io(operation: "close", message: message), file: path)
        }
        if overwrite {
            guard rename(temporaryPath, path) == 0 else {
                let message = errnoText()
                abandon()
                throw FormatError(.io(operation: "rename", message: message), file: path)
            }
        } else {
            guard link(temporaryPath, path) == 0 else {
                let code = errno
                abandon()
                if code == EEXIST {
                    throw FormatError(.refused("the output already exists (use --force to replace it)"), file: path, code: .outputExists)
                }
                throw FormatError(.io(operation: "link", message: errnoText(code)), file: path)
            }
            unlink(temporaryPath)
        }
        finished = true
        temporary.release()
    }

    /// Discards everything written; the target is untouched.
    public func abandon() {
        guard !finished else { return }
        finished = true
        inFlight.wait()
        if descriptor >= 0 { close(descriptor) }
        descriptor = -1
        unlink(temporaryPath)
        temporary.release()
    }
}

/// The first error of a background write, reported to the producer at its next write or flush.
final class FailureBox: Sendable {
    private let error = Mutex<(any Error)?>(nil)
    func record(_ error: any Error) { self.error.withLock { if $0 == nil { $0 = error } } }
    func rethrow() throws { if let error = error.withLock({ $0 }) { throw error } }
}
