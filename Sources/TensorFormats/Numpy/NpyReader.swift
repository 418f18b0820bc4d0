/// Reads a `.npy` file: one array, named after the file's stem (`weights/proj.npy` → `proj`).
///
/// The byte layout and the accepted dtypes are described on `NpyHeader`. The data must be exactly
/// product(shape) × itemsize bytes and end the file: numpy ignores trailing bytes, connkit refuses them
/// (`.uncoveredBytes`), since they usually mean the header's shape does not describe the data.
/// Little-endian C-ordered data is a borrowed view of the mapping; big-endian data is byte-swapped and
/// Fortran-ordered data transposed when accessed, so every reader sees the logical row-major array.
public enum NpyReader {
    public static func read(_ file: MappedFile) throws -> Checkpoint {
        try attributing(to: file.path) {
            let header = try file.withBytes { bytes in
                if let error = FileSniffer.notFormat("npy", bytes) { throw error }
                return try NpyHeader.parse(bytes)
            }
            let name = stem(of: file.path)
            try checkDataLength(header, available: file.size - header.dataOffset, origin: header.dataOffset)
            let region = FileRegion(file: file, offset: header.dataOffset, count: header.dataByteCount)
            let tensor = Tensor(info: try TensorInfo(name: name, dtype: header.dtype, shape: header.shape),
                                data: NpyTensorData(source: .mapped(region), header: header))
            return Checkpoint(path: file.path, format: .npy, metadata: [], tensors: [tensor], notes: notes(header, name: name))
        }
    }

    /// The data after the header must be exactly the declared size. `inMember`: the npy is an npz member, whose
    /// trailing bytes are reported as a size mismatch (the member, not the file, is too long).
    static func checkDataLength(_ header: NpyHeader, available: Int, origin: Int, inMember: Bool = false) throws {
        if available < header.dataByteCount {
            throw FormatError(.truncated(what: "npy array data (shape \(header.shape), \(header.descr))",
                                         needed: header.dataByteCount, available: available), at: .byte(origin))
        }
        if available > header.dataByteCount && inMember {
            throw FormatError(.sizeMismatch(expected: header.dataByteCount, found: available),
                              at: .byte(origin + header.dataByteCount))
        }
        if available > header.dataByteCount {
            throw FormatError(.uncoveredBytes(expectedEnd: origin + header.dataByteCount, fileSize: origin + available),
                              at: .byte(origin + header.dataByteCount))
        }
    }

    /// What a user should know about how the stored bytes differ from the presented array.
    static func notes(_ header: NpyHeader, name: String) -> [String] {
        var notes: [String] = []
        if header.bigEndian {
            notes.append("'\(name)' is stored big-endian (\(header.descr)); it is presented little-endian")
        }
        if header.fortranOrder {
            notes.append("'\(name)' is stored in Fortran (column-major) order; it is presented row-major")
        }
        return notes
    }

    /// Python's `Path(path).stem`: the last component without its final extension.
    static func stem(of path: String) -> String {
        let last = path.split(separator: "/", omittingEmptySubsequences: true).last.map(String.init) ?? path
        guard let dot = last.lastIndex(of: "."), dot != last.startIndex else { return last }
        return String(last[..<dot])
    }
}
