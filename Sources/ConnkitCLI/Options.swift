import ArgumentParser
import ConnectorGraph
import TensorFormats

/// IN and OUT of the commands that write a checkpoint (`convert`, `quantize`).
struct InputOutput: ParsableArguments {
    @Argument(help: "Input file or sharded-checkpoint folder (anything `connkit inspect` reads).")
    var input: String

    @Argument(help: "Output file; its extension sets the format (see above).")
    var output: String
}

/// The output options of the commands that write a checkpoint (`convert`, `quantize`).
struct WriteOptions: ParsableArguments {
    @Option(name: .customLong("exclude"), help: "Leave tensors matching this glob out of the output; repeatable.")
    var exclude: [String] = []

    @OptionGroup var flags: WriteFlags

    var force: Bool { flags.force }
    var strict: Bool { flags.strict }
    var quiet: Bool { flags.quiet }
}

/// How every command that writes a file writes it (`convert`, `quantize`, `splice`).
struct WriteFlags: ParsableArguments {
    @Flag(help: "Replace OUT if it exists (an input is never overwritten).")
    var force = false

    @Flag(help: "A cast that turns finite values into ±inf (f16 beyond ±65504) is an error: exit status 1, nothing written.")
    var strict = false

    @Flag(help: "No progress bar and no informational lines ('wrote …'); warnings, errors and results are still printed.")
    var quiet = false
}

/// The encoder and LLM presets of the commands that bind connector dimensions (`validate`, `describe`).
struct PresetOptions: ParsableArguments {
    @Option(help: "Vision encoder preset (`connkit validate --list-presets` describes them).")
    var encoder: Choice<EncoderPreset>?

    @Option(help: "LLM preset.")
    var llm: Choice<LLMPreset>?

    var encoderPreset: EncoderPreset? {
        get throws(CommandFailure) { try encoder?.value }
    }

    var llmPreset: LLMPreset? {
        get throws(CommandFailure) { try llm?.value }
    }
}

/// How `validate`, `run` and `compare` find and bind a connector: the family or a graph description, and
/// every dimension source besides the checkpoint itself.
struct ConnectorOptions: ParsableArguments {
    @Option(help: "Check against this family instead of detecting it.")
    var family: Choice<Family>?

    @Option(help: "Check against a connector graph description (JSON, schemas/connector-graph.schema.json).")
    var graph: String?

    @Option(name: .customLong("encoder-dim"), help: "Vision encoder width (D_enc).")
    var encoderDim: Int?

    @Option(name: .customLong("llm-dim"), help: "LLM hidden size (D_llm).")
    var llmDim: Int?

    @Option(name: .customLong("dim"), help: "Any dimension by key, KEY=N (e.g. queries=64, merge=2); repeatable.")
    var dims: [String] = []

    @OptionGroup var presets: PresetOptions

    @Option(help: "A config.json to read dimensions from (default: the one next to the weights, if any).")
    var config: String?

    @Option(name: .customLong("llm-checkpoint"), help: "The LLM the connector feeds (its embedding width must match).")
    var llmCheckpoint: String?

    @OptionGroup var reading: ReadingOptions

    /// The options set on the command line, by flag (a command that binds no connector refuses them).
    var given: [String] {
        [family == nil ? nil : "--family", graph == nil ? nil : "--graph", encoderDim == nil ? nil : "--encoder-dim",
         llmDim == nil ? nil : "--llm-dim", dims.isEmpty ? nil : "--dim", presets.encoder == nil ? nil : "--encoder",
         presets.llm == nil ? nil : "--llm", config == nil ? nil : "--config", llmCheckpoint == nil ? nil : "--llm-checkpoint",
         reading.isSet ? "--max-materialize" : nil].compactMap { $0 }
    }

    /// What `Validator.validate` needs for the checkpoint made of `paths`.
    func request(_ paths: [String], checkValues: Bool) throws -> ValidationRequest {
        if family != nil && graph != nil { throw CommandFailure.usage("--family and --graph exclude each other") }
        let family = try family?.value
        var claims: [DimensionClaim] = []
        if let encoderDim { claims.append(DimensionClaim(key: "encoder", value: try positive(encoderDim, "--encoder-dim"), source: .flag("--encoder-dim"))) }
        if let llmDim { claims.append(DimensionClaim(key: "llm", value: try positive(llmDim, "--llm-dim"), source: .flag("--llm-dim"))) }
        claims += try parseDimensionArguments(dims, flag: "--dim")
        let encoderPreset = try presets.encoderPreset
        let llmPreset = try presets.llmPreset
        let checkpoint = try pooledCheckpoint(paths, reading: reading)
        let graphDescription = try graph.map(ConnectorGraph.load)
        let configFacts = try (config.map { [$0] } ?? configsNextTo(paths)).map { try ConfigReader.read(path: $0) }
        var llmClaim: DimensionClaim?
        if let llmCheckpoint {
            let llmModel = try reading.open(llmCheckpoint)
            guard let claim = LLMWidth.find(in: llmModel) else {
                throw CommandFailure(.unusableInput, .unreadableInput,
                                     "\(llmCheckpoint): no embedding width found (no *.embedding_length metadata and no token-embedding tensor)")
            }
            llmClaim = claim
        }
        return ValidationRequest(checkpoint: checkpoint, family: family, graph: graphDescription, flagClaims: claims,
                                 encoderPreset: encoderPreset, llmPreset: llmPreset, configs: configFacts,
                                 llmCheckpointClaim: llmClaim, checkValues: checkValues)
    }
}
