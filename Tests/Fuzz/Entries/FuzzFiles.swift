#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TensorFormats

/// Files the fuzz entries work in: a new folder per input, in /dev/shm when there is one (no disk I/O), so
/// that inputs run in parallel (the replay test) never share a file.
enum FuzzFiles {
    private static let root = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"

    /// Runs `body` with a new empty folder, removed (with what is in it) afterwards.
    static func withFolder<R>(_ name: String, _ body: (String) -> R) -> R {
        var template = Array("\(root)/connkit-fuzz-\(name)-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            fatalError("cannot create a scratch folder under \(root)")
        }
        let folder = String(cString: made)
        defer {
            for entry in list(folder) { unlink(folder + "/" + entry) }
            rmdir(folder)
        }
        return body(folder)
    }

    /// Writes `bytes` to `path` (replacing it); false when it could not.
    static func write(_ bytes: UnsafeRawBufferPointer, to path: String) -> Bool {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var written = 0
        while written < bytes.count {
            let count = Glibc.write(descriptor, bytes.baseAddress! + written, bytes.count - written)
            if count <= 0 { return false }
            written += count
        }
        return true
    }

    /// The names in `folder` (without `.` and `..`).
    static func list(_ folder: String) -> [String] {
        guard let directory = opendir(folder) else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}

/// Reads every byte of every tensor (and the metadata's text), so a range a reader accepted but did not
/// validate faults under AddressSanitizer; the sum keeps the reads from being optimised away.
enum Touch {
    nonisolated(unsafe) static var sink: UInt8 = 0

    static func all(_ checkpoint: Checkpoint) {
        for tensor in checkpoint.tensors {
            sink &+= (try? tensor.withBytes { $0.reduce(0, &+) }) ?? 0
        }
        for entry in checkpoint.metadata {
            sink &+= UInt8(truncatingIfNeeded: entry.value.json.serialized().utf8.count)
        }
        sink &+= UInt8(truncatingIfNeeded: checkpoint.notes.map(\.utf8.count).reduce(0, +))
    }
}
