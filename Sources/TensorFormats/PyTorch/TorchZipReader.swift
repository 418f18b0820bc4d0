/// Reads the zip archive `torch.save` writes (PyTorch ≥ 1.6), through the shared `ZipArchive`.
///
/// Byte layout — a zip archive whose members all sit in one top-level folder `<name>/` (the file's stem when
/// torch wrote it, `archive/` for some writers):
///
/// | member | content |
/// |---|---|
/// | `<name>/data.pkl` | the saved object, a pickle; storages are persistent ids `('storage', <storage class>, key, location, numel)` |
/// | `<name>/data/<key>` | one storage's raw bytes, stored (uncompressed); torch aligns them to 64 bytes |
/// | `<name>/byteorder` | optional: `little` or `big` (storages of a big-endian file are byte-swapped on read) |
/// | `<name>/version` or `<name>/.data/version` | the archive format version, decimal text |
/// | others (`.format_version`, `.storage_alignment`, `.data/serialization_id`, …) | ignored |
///
/// Every storage the pickle names must be a stored member of exactly the declared byte length; its bytes
/// are mapped, never copied. The pickle's CRC-32 is checked; storage CRCs are not read on open (that would
/// read the whole file), as with safetensors, which has none.
enum TorchZipReader {
    static let supportedVersions: ClosedRange<Int> = 1 ... 10

    static func read(_ file: MappedFile, budget: TorchMaterialization) throws -> Checkpoint {
        let archive = try ZipArchive(file: file)
        return try attributing(to: file.path) {
            guard let first = archive.entries.first, let slash = first.name.utf8.firstIndex(of: UInt8(ascii: "/")) else {
                throw FormatError(.notFound("a torch.save archive folder (members named '<name>/data.pkl')"))
            }
            let prefix = String(first.name.utf8[...slash])!  // ends at an ASCII byte: a scalar boundary
            guard let pickle = archive.entry(named: prefix + "data.pkl") else {
                throw FormatError(.notFound("member '\(prefix)data.pkl'"))
            }
            try checkVersion(archive, prefix: prefix)
            let bigEndian = try byteOrderIsBig(archive, prefix: prefix)

            let arena = PickleArena()
            defer { arena.tearDown() }
            let root = try pickle.withData { bytes in
                var unpickler = Unpickler(bytes: bytes, origin: pickle.dataOffset, arena: arena) { pid in
                    .storage(try TorchStorageRef(persistentID: pid, legacy: false))
                }
                let (value, end) = try unpickler.load()
                guard end == pickle.dataOffset + bytes.count else {
                    throw FormatError(.invalidHeader("\(pickle.dataOffset + bytes.count - end) bytes follow the pickle's STOP"),
                                      at: .memberByte(pickle.name, end))
                }
                return value
            }
            var notes: [String] = []
            if bigEndian { notes.append("big-endian storages (byteorder 'big'), byte-swapped when read") }
            // Storage records by key, looked up once per tensor (a state dict can have 100,000 of them).
            let dataPrefix = prefix + "data/"
            var records: [ExactName: ZipEntry] = [:]
            for entry in archive.entries where entry.name.hasNamePrefix(dataPrefix) {
                records[ExactName(String(entry.name.utf8.dropFirst(dataPrefix.utf8.count))!)] = entry
            }
            return try PyTorchReader.assemble(file: file, root: root, format: "torch.save zip archive", budget: budget,
                                              locate: { storage in
                try locate(storage, record: records[ExactName(storage.key)], name: dataPrefix + storage.key, bigEndian: bigEndian)
            }, extraNotes: notes)
        }
    }

    private static func locate(_ storage: TorchStorageRef, record: ZipEntry?, name: String,
                               bigEndian: Bool) throws -> TorchStorageLocation {
        guard let entry = record else {
            throw FormatError(.notFound("storage record '\(name)'"))
        }
        guard let region = entry.fileRegion else {
            throw FormatError(.unsupportedFormat("storage record '\(name)' is compressed; torch.save stores them uncompressed"),
                              at: .member(name))
        }
        guard region.count == storage.byteCount else {
            throw FormatError(.sizeMismatch(expected: storage.byteCount, found: region.count), at: .member(name))
        }
        return TorchStorageLocation(start: region.offset, byteCount: region.count, bigEndian: bigEndian)
    }

    private static func checkVersion(_ archive: ZipArchive, prefix: String) throws {
        guard let entry = archive.entry(named: prefix + ".data/version") ?? archive.entry(named: prefix + "version") else {
            throw FormatError(.notFound("member '\(prefix)version'"))
        }
        let text = try shortText(entry)
        guard let version = Int(text), supportedVersions.contains(version) else {
            throw FormatError(.unsupportedVersion("torch.save archive version '\(text)' (\(supportedVersions.lowerBound) to \(supportedVersions.upperBound) are read)"),
                              at: .member(entry.name))
        }
    }

    private static func byteOrderIsBig(_ archive: ZipArchive, prefix: String) throws -> Bool {
        guard let entry = archive.entry(named: prefix + "byteorder") else { return false }
        switch try shortText(entry) {
        case "little": return false
        case "big": return true
        case let other:
            throw FormatError(.invalidHeader("byteorder is '\(other)', expected 'little' or 'big'"), at: .member(entry.name))
        }
    }

    /// A small text member (version, byteorder), trimmed of its trailing newline.
    private static func shortText(_ entry: ZipEntry) throws -> String {
        guard entry.uncompressedSize <= 64 else {
            throw FormatError(.limitExceeded(what: "size of member '\(entry.name)'", value: "\(entry.uncompressedSize) bytes",
                                             limit: "64 bytes"))
        }
        return try entry.withData { bytes in
            guard let text = String(validatingUTF8Bytes: bytes) else {
                throw FormatError(.invalidUTF8(what: "member '\(entry.name)'"))
            }
            return String(text.reversed().drop(while: { $0.isWhitespace }).reversed())
        }
    }
}
