import ArgumentParser
import ConnectorGraph

/// IN and OUT of the commands that write a checkpoint (`convert`, `quantize`).
struct InputOutput: ParsableArguments {
    @Argument(help: "Input file or sharded-checkpoint folder (anything `connkit inspect` reads).")
    var input: String

    @Argument(help: "Output file; its extension sets the format (see above).")
    var output: String
}

/// The output options of the commands that write a checkpoint.
struct WriteOptions: ParsableArguments {
    @Option(name: .customLong("exclude"), help: "Leave tensors matching this glob out of the output; repeatable.")
    var exclude: [String] = []

    @Flag(help: "Replace OUT if it exists (an input is never overwritten).")
    var force = false

    @Flag(help: "No progress bar.")
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
