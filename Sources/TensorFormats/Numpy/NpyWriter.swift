/// Writes one tensor as a `.npy` file, byte-identical to `np.save` of the same array: a version 1.0 header
/// (2.0 if it could not fit a u16 length), padded so the data starts at a multiple of 64 bytes, then the
/// row-major little-endian data streamed from the tensor's producer. The caller commits the `OutputFile`.
///
/// Tensors numpy cannot hold (bf16, the f8/f6/f4 families, ggml block types) are refused with `.unconvertible`
/// naming the tensor, and so is what connkit's `NpyHeader` would refuse to read back (more than
/// `NpyHeader.maxDimensions` dimensions).
public enum NpyWriter {
    public static func write(tensor: OutputTensor, to output: OutputFile) throws {
        let header = try attributing(to: output.path) { try NpyWriter.header(for: tensor.info) }
        try write(tensor: tensor, header: header, to: output)
    }

    /// Writes `header` (from `header(for:)` of this tensor) and the tensor's bytes.
    static func write(tensor: OutputTensor, header: [UInt8], to output: OutputFile) throws {
        try output.write(header)
        try tensor.write(to: output)
    }

    /// The npy header for `info`, or `.unconvertible` when numpy has no such dtype. Errors name the tensor
    /// but no file.
    static func header(for info: TensorInfo) throws -> [UInt8] {
        guard info.shape.count <= NpyHeader.maxDimensions else {
            throw FormatError(.tooManyDimensions(count: info.shape.count, limit: NpyHeader.maxDimensions), at: .tensor(info.name))
        }
        guard let header = NpyHeader.encode(dtype: info.dtype, shape: info.shape) else {
            let hint = info.dtype.kind == .float || info.dtype.kind == .microFloat || info.dtype.isBlockQuantized
                ? " (use --dtype f32 or f16)" : ""
            throw FormatError(.unconvertible("numpy has no \(info.dtype.rawValue) dtype\(hint)"), at: .tensor(info.name))
        }
        return header
    }
}

/// Writes tensors as a `.npz` archive as `np.savez` does: one stored member `<name>.npy` per tensor, in the given
/// order, each an npy file as `NpyWriter` writes it, in a zip laid out like CPython's (see `ZipWriter`), so
/// numpy loads it and the same tensors always give the same bytes. The caller commits the `OutputFile`.
public enum NpzWriter {
    public static func write(tensors: [OutputTensor], to output: OutputFile) throws {
        let headers = try attributing(to: output.path) { try NpzWriter.headers(for: tensors.map(\.info)) }
        try write(tensors: tensors, headers: headers, to: output)
    }

    /// Every member's npy header, after checking every tensor (names compared as bytes, member names within
    /// zip's 65535 bytes), so a refusal costs no I/O. Errors name the tensor but no file.
    static func headers(for infos: [TensorInfo]) throws -> [[UInt8]] {
        let headers = try infos.map { try NpyWriter.header(for: $0) }
        var names = Set<ExactName>()
        for info in infos {
            // An empty name would be the member ".npy", which connkit's npz reader refuses (numpy would list it
            // under the key "").
            guard !info.name.isEmpty else {
                throw FormatError(.invalidHeader("an npz member needs a non-empty tensor name (it would be '.npy')"),
                                  at: .tensor(info.name))
            }
            guard names.insert(ExactName(info.name)).inserted else {
                throw FormatError(.duplicateName(info.name), at: .tensor(info.name))
            }
            try ZipWriter.checkName(info.name + ".npy")
        }
        return headers
    }

    /// Writes `tensors` with their `headers` (from `headers(for:)`).
    static func write(tensors: [OutputTensor], headers: [[UInt8]], to output: OutputFile) throws {
        let archive = ZipWriter(output: output)
        for (tensor, header) in zip(tensors, headers) {
            guard let size = Checked.add(header.count, tensor.info.byteCount) else {
                throw FormatError(.overflow(what: "the npz member size"), file: output.path, at: .tensor(tensor.info.name))
            }
            try archive.addStored(name: tensor.info.name + ".npy", size: size) { output in
                try output.write(header)
                try tensor.write(to: output)
            }
        }
        try archive.finish()
    }
}
