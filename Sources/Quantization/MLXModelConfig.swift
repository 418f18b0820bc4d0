import TensorFormats

/// `quantize --mlx-config OUT.json`: a model's config.json whose `quantization` object records the MLX
/// affine types of a quantized connector, so that mlx-lm's and mlx-vlm's `load_model` (which read the
/// object from the model folder's config.json, not from a safetensors header) build a `QuantizedLinear`
/// with the right bits for every module.
///
/// The config is the base's (the model's own config.json, or `{}`) with `quantization` and
/// `quantization_config` set to the same object, as mlx-lm's `save_config` writes them:
/// - the base's top-level `group_size`, `bits` and `mode` when its object has them (the LLM's own
///   quantization), else the connector file's (`QuantizePipeline.mlxQuantization`);
/// - the base's per-module entries, except those naming a module of the connector (the connector's
///   tensors are what the file just written holds);
/// - one explicit entry per module the connector quantized, `{"group_size": G, "bits": B, "mode": "affine"}`,
///   so its types hold whatever the top level says. A connector tensor left unquantized needs none: the
///   loaders quantize a module without an entry only when the weights hold its `.scales`.
///
/// A module's path is its weight's name without `.weight`, which is the loader's path when the file's names
/// are the model's own (transformers' pre-4.52 LLaVA names, `multi_modal_projector.linear_1`, say). A path
/// starting with a prefix mlx-vlm's `sanitize` renames is written under the renamed path too (`loaderPaths`,
/// `loaderRenames`): `model.connector.…` also as `connector.…` (Idefics2/Idefics3), `visual.merger.…` also as
/// `vision_tower.merger.…` (Qwen2-VL/Qwen2.5-VL), `model.visual.…` also as `vision_tower.…` (Qwen3-VL).
public struct MLXModelConfig: Sendable {
    /// Where the config is written.
    public var path: String
    /// The config the output starts from (an object; `{}` without a base).
    public var base: JSONValue
    /// The file `base` was read from, if any.
    public var baseFile: String?

    /// The keys mlx-lm writes, with the same object in both.
    public static let keys = ["quantization", "quantization_config"]

    /// Reads the base config (`baseFile`, or none: `{}`). A base that is not a JSON object, whose
    /// `quantization` is not an object or has a non-positive-integer `group_size`/`bits`, or that records a
    /// quantization other than MLX's (`quantization_config` with a `quant_method` and no `quantization`) is
    /// refused (`FormatError`, naming the file: exit 2).
    public init(path: String, baseFile: String?) throws {
        self.path = path
        self.baseFile = baseFile
        guard let baseFile else {
            base = .object([])
            return
        }
        let file = try MappedFile(path: baseFile)
        do {
            base = try file.withBytes { try JSONValue.parse($0) }
        } catch let error as JSONParseError {
            throw FormatError(.invalidJSON("\(error)"), file: baseFile)
        }
        guard base.objectMembers != nil else { throw malformed("expected an object at the top level") }
        if let quantization = base["quantization"] {
            guard quantization.objectMembers != nil else { throw malformed("\"quantization\" is not an object", key: "quantization") }
            for key in ["group_size", "bits"] {
                if let value = quantization[key], (value.intValue ?? 0) <= 0 {
                    throw malformed("\"quantization\".\"\(key)\" is \(value.serialized()), not a positive integer", key: "quantization")
                }
            }
        } else if let method = base["quantization_config"]?["quant_method"] {
            throw FormatError(.refused("the base config records a quantization that is not MLX's (quantization_config.quant_method "
                + "\(method.serialized())); mlx-lm and mlx-vlm read the LLM's quantization from \"quantization\", which it lacks"),
                file: baseFile, at: .key("quantization_config"))
        }
    }

    private func malformed(_ detail: String, key: String? = nil) -> FormatError {
        FormatError(.invalidJSON(detail), file: baseFile, at: key.map { .key($0) })
    }

    /// The base's `quantization` object, when it has one with a top-level `group_size` and `bits`.
    var baseQuantization: [JSONValue.Member]? {
        guard let members = base["quantization"]?.objectMembers, base["quantization"]?["group_size"] != nil,
              base["quantization"]?["bits"] != nil else { return nil }
        return members
    }

    /// The config for `report` (a quantization into MLX types): the base with `quantization` and
    /// `quantization_config` set as the type's documentation says; the base unchanged when the report
    /// holds no MLX type.
    public func merged(with report: QuantizationReport) -> JSONValue {
        guard let groupSize = report.groupSize,
              let connector = QuantizePipeline.mlxQuantization(report, groupSize: groupSize, everyModule: true) else { return base }
        let fileLevel = QuantizePipeline.mlxParameters(groupSize: groupSize, bits: 0).map(\.key)
        let fileModules = report.entries.map { QuantizePipeline.moduleName($0.name) }
        let modules = connector.filter { member in !fileLevel.contains(member.key) }.flatMap { member in
            Self.loaderPaths(of: member.key, fileModules: fileModules).map { JSONValue.Member($0, member.value) }
        }
        // Every connector tensor's module, under each of its names: entries the base has for them describe other weights.
        let connectorModules = fileModules.flatMap { Self.loaderPaths(of: $0, fileModules: fileModules) }
        let own = base["quantization"]?.objectMembers ?? []
        let keepsBaseTop = baseQuantization != nil
        var object = keepsBaseTop ? [] : Array(connector.prefix(fileLevel.count))
        for member in own where (keepsBaseTop || !fileLevel.contains(member.key))
            && !connectorModules.contains(where: { $0.isSameName(as: member.key) }) {
            object.append(member)
        }
        object += modules
        var members = base.objectMembers ?? []
        for key in Self.keys {
            if let index = members.firstIndex(where: { $0.key.isSameName(as: key) }) {
                members[index].value = .object(object)
            } else {
                members.append(JSONValue.Member(key, .object(object)))
            }
        }
        return .object(members)
    }

    /// A leading prefix of a checkpoint's tensor names that mlx-vlm's `load_model` renames (each model's
    /// `sanitize`, run before it quantizes by module path), so the module it builds is at `to` + the rest.
    struct PrefixRename: Sendable {
        let from: String
        let to: String
    }

    /// mlx-vlm's renames of a leading prefix, as read in mlx-vlm 0.7.10 (`mlx_vlm/models/…`). Each adds a key
    /// where a family's `sanitize` puts the module; in another family the key names no module and is never read.
    static let loaderRenames = [
        // idefics2/idefics2.py and idefics3/idefics3.py `Model.sanitize` (SmolVLM's is Idefics3's): `^model\.`
        // dropped; also llava_onevision and mistral3 (`model.multi_modal_projector.` → `multi_modal_projector.`)
        // and minicpmv4_6 (`model.` dropped).
        PrefixRename(from: "model.", to: ""),
        // qwen2_vl/qwen2_vl.py and qwen2_5_vl/qwen2_5_vl.py `Model.sanitize` (`transform_key`): "visual" →
        // "vision_tower" in a key without "vision_tower". (Their `model.visual.…`, transformers ≥ 4.52, becomes
        // `language_model.model.vision_tower.…`, which no module has: such a file does not load there at all.)
        PrefixRename(from: "visual.", to: "vision_tower."),
        // qwen3_vl/qwen3_vl.py and qwen3_vl_moe/qwen3_vl_moe.py `Model.sanitize`: "model.visual" → "vision_tower";
        // qwen3_5/qwen3_5.py's key mapping: `model.visual` → `vision_tower`.
        PrefixRename(from: "model.visual.", to: "vision_tower."),
    ]

    /// The keys a module's entry is written under: its path in the file, then for each of `loaderRenames`
    /// whose prefix it starts with (by bytes, with something after it) the renamed path — the module's path
    /// in the mlx-vlm families whose `sanitize` renames it. mlx-lm and mlx-vlm read an entry only by a
    /// module's own path (or their aliases of it), so a key no module of the model has is never read. A
    /// renamed path is not added when it is the module of another of the file's tensors (`fileModules`),
    /// which has its own entry or none.
    static func loaderPaths(of module: String, fileModules: [String]) -> [String] {
        var paths = [module]
        for rename in loaderRenames where module.hasNamePrefix(rename.from) && module.utf8.count > rename.from.utf8.count {
            let renamed = rename.to + String(decoding: module.utf8.dropFirst(rename.from.utf8.count), as: UTF8.self)
            guard !paths.contains(where: { $0.isSameName(as: renamed) }),
                  !fileModules.contains(where: { $0.isSameName(as: renamed) }) else { continue }
            paths.append(renamed)
        }
        return paths
    }

    /// Refuses, before anything is written, a config path that is the quantized output, a file the
    /// checkpoint was read from (`inputs`) or the base config — by name or by device and inode — or an
    /// existing file without `overwrite`.
    public func checkDestination(output: String, inputs: [String], overwrite: Bool) throws {
        let others = [output] + inputs + (baseFile.map { [$0] } ?? [])
        // By name first: OUT does not exist yet. `OutputFile` compares existing files by device and inode.
        if let other = others.first(where: { $0 == path }) {
            throw QuantizationError(.invalidRequest("--mlx-config \(path) is \(other == output ? "OUT" : "an input"); "
                + "connkit never writes over an input or its own output"))
        }
        let probe = try OutputFile(path: path, overwrite: overwrite, inputs: others)
        probe.abandon()
    }

    /// Writes `merged(with: report)` to `path` (indented JSON and a newline), atomically.
    public func write(_ report: QuantizationReport, overwrite: Bool, inputs: [String]) throws {
        let file = try OutputFile(path: path, overwrite: overwrite, inputs: inputs + (baseFile.map { [$0] } ?? []))
        do {
            try file.write(merged(with: report).serialized(pretty: true) + "\n")
            try file.commit()
        } catch {
            file.abandon()
            throw error
        }
    }
}
