#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The temporary file an `OutputFile` writes before renaming it into place: `.OUT.connkit-PID-N.tmp`
/// beside `OUT`, held under an exclusive `flock` for as long as it exists, and registered with
/// `ProcessGuard` so a signal removes it.
///
/// A process killed with SIGKILL (or a machine that loses power) cannot remove its temporary file, but
/// its lock goes with it: the next write to the same output removes every such file beside it whose lock
/// it can take. A live writer's file keeps its lock and is left alone, whatever its PID says (a PID alone
/// is fooled by PID reuse, other PID namespaces and network file systems).
struct TemporaryOutput {
    let path: String
    /// The descriptor written through (write-only).
    let descriptor: Int32
    /// A second open file description of the same file, holding the lock until the file is renamed or
    /// removed: the writing descriptor is closed before that (to see close's errors), and a lock on it
    /// would go with it.
    let lockDescriptor: Int32
    let guardSlot: Int32

    /// Creates and locks a new temporary file for `target`, after removing stale ones beside it.
    static func create(for target: String) throws -> TemporaryOutput {
        let (directory, base) = split(target)
        removeStale(directory: directory, base: base)
        for attempt in 0 ..< 100 {
            let candidate = "\(directory).\(base).connkit-\(getpid())-\(attempt).tmp"
            let fd = open(candidate, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if fd < 0 {
                if errno == EEXIST { continue }
                break
            }
            // Between the create and the lock another writer's clean-up may take the lock and remove the
            // file: then the lock is refused, or the file has no name any more, and the next name is tried.
            let lock = open(candidate, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
            var info = stat()
            if lock >= 0, flock(lock, LOCK_EX | LOCK_NB) == 0, fstat(lock, &info) == 0, info.st_nlink > 0 {
                return TemporaryOutput(path: candidate, descriptor: fd, lockDescriptor: lock,
                                       guardSlot: ProcessGuard.registerTemporary(candidate))
            }
            if lock >= 0 { close(lock) }
            close(fd)
        }
        let reason = errnoText()
        let folder = directory.isEmpty ? "." : directory
        var info = stat()
        if stat(folder, &info) != 0 || (info.st_mode & S_IFMT) != S_IFDIR {
            throw FormatError(.notFound("folder \(folder)"), file: target, code: .io)
        }
        throw FormatError(.io(operation: "create a temporary file in \(folder)", message: reason), file: target)
    }

    /// Lets go of the lock and the signal handlers' entry once the file is renamed or removed.
    func release() {
        ProcessGuard.unregisterTemporary(guardSlot)
        close(lockDescriptor)
    }

    /// The folder part (with its slash, or empty) and the file name of `path`.
    private static func split(_ path: String) -> (directory: String, base: String) {
        guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return ("", path) }
        // By bytes: a combining mark after the slash would move a Character-based cut before it.
        let after = path.utf8.index(after: slash)
        return (String(decoding: path.utf8[..<after], as: UTF8.self), String(decoding: path.utf8[after...], as: UTF8.self))
    }

    /// Removes the temporary files of `base` in `directory` that no live writer holds: each is opened
    /// (never following a link), locked without waiting, checked to be still the file at that name, and
    /// unlinked. Best effort: anything unexpected leaves the file alone.
    static func removeStale(directory: String, base: String) {
        let prefix = Array(".\(base).connkit-".utf8)
        guard let folder = opendir(directory.isEmpty ? "." : directory) else { return }
        defer { closedir(folder) }
        var stale: [String] = []
        while let entry = readdir(folder) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                Array(raw.prefix { $0 != 0 })
            }
            guard name.starts(with: prefix), isTemporarySuffix(name[prefix.count...]) else { continue }
            stale.append(directory + String(decoding: name, as: UTF8.self))
        }
        for path in stale {
            let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            var held = stat(), named = stat()
            guard fstat(fd, &held) == 0, (held.st_mode & S_IFMT) == S_IFREG,
                  flock(fd, LOCK_EX | LOCK_NB) == 0,
                  lstat(path, &named) == 0, named.st_dev == held.st_dev, named.st_ino == held.st_ino
            else { continue }
            unlink(path)
        }
    }

    /// `PID-N.tmp`: digits, a dash, digits, `.tmp`.
    private static func isTemporarySuffix(_ rest: ArraySlice<UInt8>) -> Bool {
        guard rest.count > 4, rest.suffix(4).elementsEqual(".tmp".utf8) else { return false }
        let middle = rest.dropLast(4).split(separator: UInt8(ascii: "-"), omittingEmptySubsequences: false)
        return middle.count == 2 && middle.allSatisfy { !$0.isEmpty && $0.allSatisfy { (0x30 ... 0x39).contains($0) } }
    }
}
