import ArgumentParser
import Quantization

/// `quantize --mlx-config OUT.json` (README: "A model config for mlx-lm and mlx-vlm").
struct MLXConfigOptions: ParsableArguments {
    @Option(name: .customLong("mlx-config"),
            help: "Also write a model config.json recording the MLX types for mlx-lm/mlx-vlm (from --config, else the config.json next to IN).")
    var path: String?

    /// The config `--mlx-config` asks for, or nil: its base is `config` (`--config`), else the config.json
    /// beside `input`, else none.
    func request(input: String, config: String?) throws -> MLXModelConfig? {
        guard let path else { return nil }
        return try MLXModelConfig(path: path, baseFile: config ?? configsNextTo([input]).first)
    }
}
