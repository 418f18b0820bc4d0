/// Reads a `.npz` file: a zip archive (see `ZipArchive` for the zip rules) whose members are `.npy` arrays, as
/// written by `np.savez` (stored) and `np.savez_compressed` (deflated). The member `a/b.npy` becomes the tensor
/// `a/b`. Tensors are listed in the order their data lies in the file.
///
/// - Every member must be named `*.npy` and hold an npy array (as `NpyHeader` describes); anything else (numpy
///   would hand such members out as raw bytes) is refused, naming the member, rather than silently dropped.
/// - Each member's content must be exactly its npy header plus the declared data (no trailing bytes).
/// - Listing reads only the headers: for deflated members only the start of the stream is inflated.
/// - CRC-32: a deflated member is checked each time it is inflated; a stored member the first time its data is
///   used (`withBytes`, or asking for its `fileRegion` before a kernel copy — a corrupt member has none). So
///   listing costs no data reads, and anything that reads or copies a tensor detects a corrupted member.
/// - Stored little-endian C-ordered members are lent straight from the mapping (zero-copy).
public enum NpzReader {
    public static func read(_ file: MappedFile) throws -> Checkpoint {
        if let error = file.withBytes({ FileSniffer.notFormat("npz", $0) }) { throw error.inFile(file.path) }
        let archive = try ZipArchive(file: file)
        return try attributing(to: file.path) {
            var tensors: [Tensor] = []
            var notes: [String] = []
            tensors.reserveCapacity(archive.entries.count)
            for entry in archive.entries.sorted(by: { $0.dataOffset < $1.dataOffset }) {
                do {
                    let (tensor, memberNotes) = try member(entry)
                    tensors.append(tensor)
                    notes += memberNotes
                } catch let error as FormatError {
                    throw relocated(error, to: entry)
                }
            }
            return Checkpoint(path: file.path, format: .npz, metadata: [], tensors: tensors, notes: notes)
        }
    }

    private static func member(_ entry: ZipEntry) throws -> (Tensor, [String]) {
        guard entry.name.hasNameSuffix(".npy"), entry.name.utf8.count > 4 else {
            throw FormatError(.unsupportedFormat("npz member '\(entry.name)' is not an .npy array (connkit reads only *.npy members)"),
                              at: .member(entry.name))
        }
        let name = String(decoding: entry.name.utf8.dropLast(4), as: UTF8.self)  // valid: ".npy" is ASCII
        // Inflate only the header: its size from the first 12 bytes, then exactly that much.
        let headerSize = try entry.withPrefix(12) { prefix in try NpyHeader.headerSize(prefix) }
        let header = try entry.withPrefix(headerSize) { prefix in try NpyHeader.parse(prefix) }
        try NpyReader.checkDataLength(header, available: entry.uncompressedSize - header.dataOffset, origin: header.dataOffset,
                                        inMember: true)
        let data = NpyTensorData(source: .zipMember(entry, offset: header.dataOffset, count: header.dataByteCount),
                                 header: header)
        let tensor = Tensor(info: try TensorInfo(name: name, dtype: header.dtype, shape: header.shape), data: data)
        return (tensor, NpyReader.notes(header, name: name))
    }

    /// Attributes an error in a member's npy content to the member. Offsets stay absolute file offsets (as in
    /// `ZipArchive`'s errors): exact for a stored member; a deflated member's content has no file offset, so
    /// only the member is named.
    private static func relocated(_ error: FormatError, to entry: ZipEntry) -> FormatError {
        var copy = error
        if case .byte(let offset)? = error.location {
            copy.location = entry.method == .stored ? .memberByte(entry.name, entry.dataOffset + offset) : .member(entry.name)
        } else if error.location == nil {
            copy.location = .member(entry.name)
        }
        return copy
    }
}
