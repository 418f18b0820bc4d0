/// Reads the legacy `torch.save` format (`_use_new_zipfile_serialization=False`, PyTorch < 1.6 default).
///
/// Byte layout — five pickles back to back, then the raw storages:
///
/// | part | content |
/// |---|---|
/// | pickle 1 | the magic number `0x1950a86a20f9469cfc6c` (a LONG1) |
/// | pickle 2 | the protocol version, `1001` |
/// | pickle 3 | system info: `{'protocol_version': 1001, 'little_endian': …, 'type_sizes': {…}}` |
/// | pickle 4 | the saved object; storages appear as persistent ids `('storage', <storage class>, key, location, numel, view_metadata)` |
/// | pickle 5 | the list of storage keys, in the order their data follows |
/// | storages | per key: `numel` as little-endian i64, then `numel × element size` bytes (always little-endian) |
///
/// The storages must cover the rest of the file exactly. Every key of the list must have been named by the
/// object pickle, and its element count must match the one declared there.
enum TorchLegacyReader {
    static let magicNumber: [UInt8] = [0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]
    static let protocolVersion: Int64 = 1001

    /// True when the file starts with the legacy magic pickle (`PROTO 2, LONG1 10 <magic>, STOP`).
    static func hasMagic(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let prefix: [UInt8] = [0x80, 0x02, 0x8A, 0x0A] + magicNumber + [0x2E]
        return bytes.count >= prefix.count && zip(bytes, prefix).allSatisfy { $0 == $1 }
    }

    static func read(_ file: MappedFile, budget: TorchMaterialization) throws -> Checkpoint {
        try attributing(to: file.path) {
            let arena = PickleArena()
            defer { arena.tearDown() }
            let referenced = StorageTable()
            let (root, storageKeys, dataStart) = try file.withBytes { bytes in
                var position = 0
                let nextPickle = { (persistentLoad: @escaping (PickleValue) throws -> PickleValue) throws -> PickleValue in
                    var unpickler = Unpickler(bytes: UnsafeRawBufferPointer(rebasing: bytes[position...]),
                                              origin: position, arena: arena, persistentLoad: persistentLoad)
                    let (value, end) = try unpickler.load()
                    position = end
                    return value
                }
                guard hasMagic(bytes), case .bigInt(let magic) = try nextPickle(noPersistentIDs), magic == magicNumber else {
                    throw FormatError(.badMagic(expected: "a zip archive or the legacy torch.save magic number",
                                                found: hexPrefix(bytes)), at: .byte(0))
                }
                let protocolOffset = position
                let version = try nextPickle(noPersistentIDs)
                guard case .int(protocolVersion) = version else {
                    throw FormatError(.unsupportedVersion("legacy torch.save protocol \(version.displayText) (1001 is read)"),
                                      at: .byte(protocolOffset))
                }
                let systemInfoOffset = position
                guard case .dict = try nextPickle(noPersistentIDs) else {
                    throw FormatError(.invalidHeader("legacy system information is not a dict"), at: .byte(systemInfoOffset))
                }
                let root = try nextPickle { (pid: PickleValue) throws -> PickleValue in
                    let storage = try TorchStorageRef(persistentID: pid, legacy: true)
                    try referenced.add(storage)
                    return .storage(storage)
                }
                let keysOffset = position
                let keyList = try nextPickle(noPersistentIDs)
                guard let keys = keyList.sequenceItems?.compactMap(\.textOrASCIIBytes),
                      keys.count == keyList.sequenceItems?.count else {
                    throw FormatError(.invalidHeader("the storage key list is not a list of strings"), at: .byte(keysOffset))
                }
                return (root, keys, position)
            }
            let locations = try storageLocations(file, keys: storageKeys, dataStart: dataStart, referenced: referenced)
            return try PyTorchReader.assemble(file: file, root: root, format: "legacy torch.save format (pickles followed by raw storages)",
                                              budget: budget, locate: { storage in
                guard let location = locations[ExactName(storage.key)] else {
                    throw FormatError(.notFound("data of storage '\(storage.key)' (not in the storage key list)"))
                }
                return TorchStorageLocation(start: location.start + storage.viewByteOffset,
                                            byteCount: storage.viewByteCount, bigEndian: false)
            })
        }
    }

    /// Walks the storage section: each key's i64 element count and data, in key-list order.
    private static func storageLocations(_ file: MappedFile, keys: [String], dataStart: Int,
                                         referenced: StorageTable) throws -> [ExactName: (start: Int, byteCount: Int)] {
        var locations: [ExactName: (start: Int, byteCount: Int)] = [:]
        var position = dataStart
        try file.withBytes { bytes in
            var cursor = ByteCursor(bytes)
            try cursor.seek(to: dataStart)
            for key in keys {
                guard let storage = referenced.storages[ExactName(key)] else {
                    throw FormatError(.inconsistent("storage key '\(key)' is listed but no tensor uses it"),
                                      at: .byte(cursor.fileOffset))
                }
                guard locations[ExactName(key)] == nil else { throw FormatError(.duplicateName("storage key '\(key)'")) }
                let countOffset = cursor.fileOffset
                // torch writes the count as a signed int64 (`struct.pack('<q', …)`).
                let declared = Int64(bitPattern: try cursor.readU64("element count of storage '\(key)'"))
                guard declared == Int64(storage.elementCount) else {
                    throw FormatError(.inconsistent("storage '\(key)' holds \(declared) elements here but the object pickle "
                        + "declares \(storage.elementCount)"), at: .byte(countOffset))
                }
                let start = cursor.fileOffset
                try cursor.skip(storage.byteCount, "data of storage '\(key)'")
                locations[ExactName(key)] = (start, storage.byteCount)
                position = cursor.fileOffset
            }
        }
        guard position == file.size else {
            throw FormatError(.uncoveredBytes(expectedEnd: position, fileSize: file.size))
        }
        return locations
    }

    static func noPersistentIDs(_ pid: PickleValue) throws -> PickleValue {
        throw FormatError(.invalidHeader("unexpected persistent id outside the object pickle"))
    }

    static func hexPrefix(_ bytes: UnsafeRawBufferPointer) -> String {
        hexBytes(bytes.prefix(8))
    }
}

/// Storages named by persistent ids, first declaration per key (later ones must agree on the byte length).
final class StorageTable {
    private(set) var storages: [ExactName: TorchStorageRef] = [:]
    private(set) var order: [String] = []

    func add(_ storage: TorchStorageRef) throws {
        if let first = storages[ExactName(storage.key)] {
            guard first.byteCount == storage.byteCount else {
                throw FormatError(.inconsistent("storage '\(storage.key)' is declared with \(first.byteCount) and \(storage.byteCount) bytes"))
            }
            return
        }
        storages[ExactName(storage.key)] = storage
        order.append(storage.key)
    }
}
