/// Writes GGUF v3 (little-endian) files that both gguf-py's `GGUFReader` and ggml's `gguf_init_from_file`
/// accept.
///
/// Layout written: magic, version 3, tensor count, metadata count; the metadata entries with
/// `general.architecture` first (when given) and the others in the caller's order; the tensor infos in
/// the caller's order (name, n_dims, `ne` = the row-major shape reversed, ggml type, offset); zero
/// padding to the alignment; then each tensor's bytes followed by zero padding to the alignment
/// (after the last tensor too, as ggml and gguf-py do). Offsets are the running sum of the padded
/// sizes, the only layout ggml accepts.
///
/// Everything is checked before the first byte is written (`plan`), and the rules are those of
/// connkit's own `GGUFReader`, so whatever is written reads back; refused with a `FormatError` naming
/// the key or tensor:
/// - a metadata key that is empty or repeated (names compared as bytes); a nested array (ggml cannot
///   read them); an array whose elements are not all of its declared type; a string over 1 GiB; more
///   than `GGUFLayout.maxMetadataValues` values in all; `general.alignment` that is not a u32 non-zero
///   power of two (it sets the alignment; the default is 32); a non-string `general.architecture`;
/// - a dtype without a ggml type (`.unconvertible`: GGUF holds f32, f16, bf16, f64, i8–i64 and the ggml
///   block types); a name over 63 bytes (never truncated) or holding a NUL byte (ggml would cut it
///   there); more than 4 dimensions; a block type whose row (`ne[0]`, the last row-major dimension) is
///   not a whole number of blocks; a repeated name (compared as bytes).
/// A 0-d tensor is written with `ne = [1]` (GGUF has no scalars).
///
/// An empty tensor whose zero is not in `ne[0]` (the last row-major dimension), `[0, 4]` say, is
/// written as it is, with a warning: the `gguf_init_from_file` of many ggml releases divides by
/// `ne[1..3]` when it checks the element count (SIGFPE on x86-64), and some later ones refuse any zero
/// dimension, while gguf-py, connkit and the ggml of llama-cpp-python 0.3.36 (measured) read it.
/// connkit neither refuses it (the format allows it and other readers take it) nor reorders its
/// dimensions (that would change the tensor).
///
/// The caller commits or abandons `output`; the writer only appends to it, and expects it to be empty.
public enum GGUFWriter {
    /// What `write` lays out, checked: the ordered metadata, the alignment, each tensor's `ne`, type and
    /// offset, and warnings on what ggml will not load.
    public struct Plan {
        let entries: [MetadataEntry]
        let alignment: Int
        let layouts: [TensorLayout]
        /// One line per tensor ggml's loader cannot take (see the type's documentation).
        public let warnings: [String]
    }

    /// Checks that `tensors` and `metadata` can be written (and read back) and lays them out. Errors name
    /// the tensor or key but no file: the caller knows whose content it is.
    public static func plan(tensors: [TensorInfo], metadata: [MetadataEntry]) throws -> Plan {
        let entries = try orderedMetadata(metadata)
        let alignment = try GGUFLayout.alignment(of: entries)
        let layouts = try tensorLayouts(tensors, alignment: alignment)
        let warnings = layouts.compactMap { layout -> String? in
            guard let axis = layout.ne.dropFirst().firstIndex(of: 0) else { return nil }
            return "tensor '\(layout.name)': ne = \(layout.ne) has its zero in ne[\(axis)], not ne[0]: the gguf_init_from_file "
                + "of many ggml releases divides by ne[1..3] (SIGFPE on x86-64) or refuses it; gguf-py and connkit read it"
        }
        return Plan(entries: entries, alignment: alignment, layouts: layouts, warnings: warnings)
    }

    public static func write(tensors: [OutputTensor], metadata: [MetadataEntry], to output: OutputFile) throws {
        let plan = try attributing(to: output.path) { try GGUFWriter.plan(tensors: tensors.map(\.info), metadata: metadata) }
        try write(tensors: tensors, plan: plan, to: output)
    }

    /// Writes `tensors` as `plan` (made from their infos) lays them out.
    public static func write(tensors: [OutputTensor], plan: Plan, to output: OutputFile) throws {
        precondition(output.position == 0, "GGUFWriter writes a whole file: give it an empty OutputFile")
        precondition(tensors.count == plan.layouts.count, "a GGUF plan made for other tensors")
        try attributing(to: output.path) {
            try output.write(GGUFLayout.magic)
            try output.writeLE(GGUFLayout.writtenVersion)
            try output.writeLE(UInt64(tensors.count))
            try output.writeLE(UInt64(plan.entries.count))
            for entry in plan.entries {
                try writeString(entry.key, to: output)
                try output.writeLE(entry.value.type.rawValue)
                try writeValue(entry.value, to: output)
            }
            for layout in plan.layouts {
                try writeString(layout.name, to: output)
                try output.writeLE(UInt32(layout.ne.count))
                for dimension in layout.ne { try output.writeLE(UInt64(dimension)) }
                try output.writeLE(layout.ggmlType)
                try output.writeLE(UInt64(layout.offset))
            }
            try output.pad(to: plan.alignment)
            let dataStart = output.position
            for (tensor, layout) in zip(tensors, plan.layouts) {
                precondition(output.position == dataStart + layout.offset, "GGUF tensor offsets out of step")
                try tensor.write(to: output)
                try output.pad(to: plan.alignment)
            }
        }
    }

    struct TensorLayout {
        var name: String
        var ne: [Int]
        var ggmlType: UInt32
        var offset: Int
    }

    // MARK: metadata

    /// The entries to write, `general.architecture` first, after checking every one can be written.
    private static func orderedMetadata(_ metadata: [MetadataEntry]) throws -> [MetadataEntry] {
        var keys = Set<ExactName>()
        var values = 0
        for entry in metadata {
            guard !entry.key.isEmpty else {
                throw FormatError(.invalidHeader("a GGUF metadata key cannot be empty"))
            }
            guard keys.insert(ExactName(entry.key)).inserted else {
                throw FormatError(.duplicateName(entry.key), at: .key(entry.key))
            }
            try checkString(entry.key, key: entry.key)
            try checkWritable(entry.value, key: entry.key)
            // The reader's bound on values (array elements included), so what is written reads back.
            if case .array(_, let items) = entry.value { values += items.count }
            guard values <= GGUFLayout.maxMetadataValues else {
                throw FormatError(.limitExceeded(what: "number of metadata values", value: "more than \(GGUFLayout.maxMetadataValues)",
                                                 limit: "\(GGUFLayout.maxMetadataValues) (connkit's GGUF reader)"), at: .key(entry.key))
            }
        }
        guard let architectureIndex = metadata.firstIndex(where: { $0.key.isSameName(as: GGUFLayout.architectureKey) }) else {
            return metadata
        }
        guard case .string = metadata[architectureIndex].value else {
            throw FormatError(.invalidHeader("general.architecture must be a string, found \(metadata[architectureIndex].value.type)"),
                              at: .key(GGUFLayout.architectureKey))
        }
        var ordered = metadata
        let architecture = ordered.remove(at: architectureIndex)
        ordered.insert(architecture, at: 0)
        return ordered
    }

    private static func checkWritable(_ value: MetadataValue, key: String) throws {
        switch value {
        case .string(let text):
            try checkString(text, key: key)
        case .array(let elementType, let items):
            guard elementType != .array else {
                throw FormatError(.unconvertible("nested arrays cannot be written to GGUF: ggml's reader refuses them"),
                                  at: .key(key))
            }
            for item in items {
                guard item.type == elementType else {
                    throw FormatError(.invalidHeader("an array of \(elementType) holds a \(item.type) value"), at: .key(key))
                }
                if case .string(let text) = item { try checkString(text, key: key) }
            }
        default:
            break
        }
    }

    private static func checkString(_ text: String, key: String) throws {
        guard text.utf8.count <= GGUFLayout.maxStringBytes else {
            throw FormatError(.limitExceeded(what: "string length", value: "\(text.utf8.count) bytes",
                                             limit: "\(GGUFLayout.maxStringBytes) bytes"), at: .key(key))
        }
    }

    // MARK: tensors

    private static func tensorLayouts(_ infos: [TensorInfo], alignment: Int) throws -> [TensorLayout] {
        var names = Set<ExactName>()
        var layouts: [TensorLayout] = []
        layouts.reserveCapacity(infos.count)
        var offset = 0
        for info in infos {
            let location = FormatError.Location.tensor(info.name)
            guard let ggmlType = info.dtype.ggmlType else {
                throw FormatError(.unconvertible(
                    "dtype \(info.dtype.rawValue) has no ggml type; GGUF holds f32, f16, bf16, f64, i8, i16, i32, i64 "
                        + "and the ggml block types (convert with --dtype)"), at: location)
            }
            guard info.name.utf8.count <= GGUFLayout.maxTensorNameBytes else {
                throw FormatError(.limitExceeded(what: "tensor name length", value: "\(info.name.utf8.count) bytes",
                                                 limit: "\(GGUFLayout.maxTensorNameBytes) bytes (ggml's GGML_MAX_NAME); names are never truncated"),
                                  at: location)
            }
            // ggml copies names as C strings: it would cut the name at the NUL (connkit's reader refuses it).
            guard !info.name.utf8.contains(0) else {
                throw FormatError(.invalidHeader("tensor name contains a NUL byte (ggml would cut the name there)"),
                                  at: location)
            }
            guard names.insert(ExactName(info.name)).inserted else {
                throw FormatError(.duplicateName(info.name), at: location)
            }
            guard info.shape.count <= GGUFLayout.maxDimensions else {
                throw FormatError(.tooManyDimensions(count: info.shape.count, limit: GGUFLayout.maxDimensions), at: location)
            }
            let ne = info.shape.isEmpty ? [1] : Array(info.shape.reversed())
            let blockElements = info.dtype.layout.blockElements
            guard ne[0] % blockElements == 0 else {
                throw FormatError(.invalidShape(
                    "the last dimension \(ne[0]) is not a multiple of the \(info.dtype.ggmlName) block size \(blockElements)"),
                                  at: location)
            }
            layouts.append(TensorLayout(name: info.name, ne: ne, ggmlType: ggmlType, offset: offset))
            guard let padded = Checked.alignUp(info.byteCount, to: alignment), let next = Checked.add(offset, padded) else {
                throw FormatError(.overflow(what: "the GGUF data offset"), at: location)
            }
            offset = next
        }
        return layouts
    }

    // MARK: encoding

    private static func writeString(_ text: String, to output: OutputFile) throws {
        var text = text
        try text.withUTF8 { bytes in
            try output.writeLE(UInt64(bytes.count))
            try output.write(UnsafeRawBufferPointer(bytes))
        }
    }

    private static func writeValue(_ value: MetadataValue, to output: OutputFile) throws {
        switch value {
        case .uint8(let v): try output.writeLE(v)
        case .int8(let v): try output.writeLE(v)
        case .uint16(let v): try output.writeLE(v)
        case .int16(let v): try output.writeLE(v)
        case .uint32(let v): try output.writeLE(v)
        case .int32(let v): try output.writeLE(v)
        case .uint64(let v): try output.writeLE(v)
        case .int64(let v): try output.writeLE(v)
        case .float32(let v): try output.writeLE(v.bitPattern)
        case .float64(let v): try output.writeLE(v.bitPattern)
        case .bool(let v): try output.writeLE(UInt8(v ? 1 : 0))
        case .string(let text): try writeString(text, to: output)
        case .array(let elementType, let items):
            try output.writeLE(elementType.rawValue)
            try output.writeLE(UInt64(items.count))
            for item in items { try writeValue(item, to: output) }
        }
    }
}
