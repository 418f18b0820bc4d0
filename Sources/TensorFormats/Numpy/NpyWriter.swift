/// Writes one tensor as a `.npy` file, byte-identical to `np.save` of the same array: a version 1.0 header
/// (2.0 if it could not fit a u16 length), padded so the data starts at a multiple of 64 bytes, then the
/// row-major little-endian data streamed from the tensor's producer. The caller commits the `OutputFile`.
///
/// Tensors numpy cannot hold (bf16, the f8/f6/f4 families, ggml block types) are refused with `.unconvertible`
/// naming the tensor.
public enum NpyWriter {
    public static func write(tensor: OutputTensor, to output: OutputFile) throws {
        let header = try header(for: tensor.info, file: output.path)
        try output.write(header)
        try tensor.write(to: output)
    }

    /// The npy header for `info`, or `.unconvertible` when numpy has no such dtype.
    static func header(for info: TensorInfo, file: String) throws -> [UInt8] {
        guard let header = NpyHeader.encode(dtype: info.dtype, shape: info.shape) else {
            let hint = info.dtype.kind == .float || info.dtype.kind == .microFloat || info.dtype.isBlockQuantized
                ? " (use --dtype f32 or f16)" : ""
            throw FormatError(.unconvertible("numpy has no \(info.dtype.rawValue) dtype\(hint)"), file: file,
                              at: .tensor(info.name))
        }
        return header
    }
}

/// Writes tensors as a `.npz` archive as `np.savez` does: one stored member `<name>.npy` per tensor, in the given
/// order, each an npy file as `NpyWriter` writes it, in a zip laid out like CPython's (see `ZipWriter`), so
/// numpy loads it and the same tensors always give the same bytes. The caller commits the `OutputFile`.
public enum NpzWriter {
    public static func write(tensors: [OutputTensor], to output: OutputFile) throws {
        // Check every tensor before writing anything, so a refusal costs no I/O.
        let headers = try tensors.map { try NpyWriter.header(for: $0.info, file: output.path) }
        var names = Set<String>()
        for tensor in tensors where !names.insert(tensor.info.name).inserted {
            throw FormatError(.duplicateName(tensor.info.name), file: output.path, at: .tensor(tensor.info.name))
        }
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
