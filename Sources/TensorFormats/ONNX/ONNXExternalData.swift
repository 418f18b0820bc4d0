import CONNXProto
import CProtobufC
#if canImport(Glibc)
import Glibc
#endif

/// Tensors whose bytes are in external data files (`data_location: EXTERNAL`), as
/// `onnx.save_model(..., save_as_external_data=True)` writes them: `external_data` entries `location`
/// (a path relative to the model's folder), `offset` and `length` (decimal strings, optional).
///
/// The location must stay inside the model's folder: not absolute, no `..` component, and — resolved
/// with `realpath`, symbolic links included — still below the folder's own real path. Each file is mapped
/// once and its tensors are zero-copy ranges of it. `offset` defaults to 0; without `length` the tensor
/// runs to the end of the file (as onnx reads it). Either way the range must lie inside the file and hold
/// exactly the tensor's bytes. A `checksum` is not verified (onnx does not either); other keys are ignored.
final class ONNXExternalData {
    private let folder: String
    private lazy var realFolder: String? = Self.realPath(folder)
    private var files: [String: MappedFile] = [:]

    init(modelPath: String) {
        // Paths are bytes (a `Character` can fuse a "/" with the scalar before it).
        let slash = modelPath.utf8.lastIndex(of: UInt8(ascii: "/"))
        folder = slash.map { String(modelPath.utf8[..<$0])! }.map { $0.isEmpty ? "/" : $0 } ?? "."
    }

    /// The tensor's bytes and the file that holds them.
    func data(_ entries: [UnsafeMutablePointer<Onnx__StringStringEntryProto>], info: TensorInfo) throws
        -> (MappedTensorData, String) {
        var values: [String: String] = [:]
        for entry in entries {
            let key = try ONNXFields.text(entry.pointee.key, field: "external_data.key")
            guard values[key] == nil else {
                throw FormatError(.invalidHeader("external_data has the key '\(key)' twice"))
            }
            values[key] = try ONNXFields.text(entry.pointee.value, field: "external_data.value")
        }
        guard let location = values["location"], !location.isEmpty else {
            throw FormatError(.invalidHeader("external data without a location"))
        }
        let path = try resolve(location)
        let file = try files[path] ?? MappedFile(path: path)
        files[path] = file
        let offset = try number(values["offset"], key: "offset") ?? 0
        guard offset <= file.size else {
            throw FormatError(.truncated(what: "external data (offset \(offset))", needed: offset, available: file.size),
                              file: path)
        }
        let length = try number(values["length"], key: "length") ?? (file.size - offset)
        guard length <= file.size - offset else {
            throw FormatError(.truncated(what: "external data (offset \(offset), length \(length))",
                                         needed: offset + length, available: file.size), file: path)
        }
        guard length == info.byteCount else {
            throw FormatError(.sizeMismatch(expected: info.byteCount, found: length), file: path)
        }
        return (MappedTensorData(file: file, offset: offset, count: length), path)
    }

    /// The path of `location` below the model's folder, refused when it leads out of it.
    private func resolve(_ location: String) throws -> String {
        if location.hasNamePrefix("/") {
            throw FormatError(.refused("external data location '\(location)' is an absolute path; it must lie in the model's folder"))
        }
        if location.utf8.split(separator: UInt8(ascii: "/")).contains(where: { $0.elementsEqual("..".utf8) }) {
            throw FormatError(.refused("external data location '\(location)' has a '..' component; it must lie in the model's folder"))
        }
        let joined = folder == "/" ? "/" + location : folder + "/" + location
        guard let resolved = Self.realPath(joined) else {
            throw FormatError(.io(operation: "open", message: errnoText()), file: joined)
        }
        guard let realFolder else {
            throw FormatError(.io(operation: "realpath", message: errnoText()), file: folder)
        }
        let prefix = realFolder.hasNameSuffix("/") ? realFolder : realFolder + "/"
        // By bytes: `hasPrefix` would take ".../cafe\u{301}/" for the folder ".../café/" (canonically equal).
        guard resolved.hasNamePrefix(prefix) else {
            throw FormatError(.refused(
                "external data location '\(location)' resolves to \(resolved), outside the model's folder (a symbolic link)"))
        }
        return resolved
    }

    private func number(_ text: String?, key: String) throws -> Int? {
        guard let text else { return nil }
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            throw FormatError(.invalidHeader("external_data \(key) '\(text)' is not a decimal number"))
        }
        guard let value = Int(text) else { throw FormatError(.overflow(what: "external_data \(key) \(text)")) }
        return value
    }

    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
