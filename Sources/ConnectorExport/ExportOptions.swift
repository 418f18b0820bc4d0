import ConnectorRuntime
import TensorFormats

/// How `ONNXExport` writes a connector.
public struct ExportOptions {
    /// The element type of the model's input, output, weights and matrix products. With `.f16`, layer and
    /// RMS norms and softmax run in f32 through `Cast` nodes and the norms' weights stay f32, as in
    /// `torch.onnx` exports of half-precision models.
    public enum Precision: String, Sendable, CaseIterable {
        case f32, f16

        var dtype: DType { self == .f16 ? .f16 : .f32 }
    }

    /// The token count the model reads: fixed (declared in the input's shape), or dynamic (a symbolic
    /// `tokens` axis), which only a connector whose computation needs no patch grid allows.
    public enum Tokens: Sendable, Equatable {
        case fixed(Int)
        case dynamic
    }

    /// The default-domain opsets export writes: 17 (the default) up to the newest ONNX Runtime runs here.
    public static let opsets: ClosedRange<Int> = 17 ... 24
    public static let defaultOpset = 17

    public var opset = ExportOptions.defaultOpset
    public var precision = Precision.f32
    public var tokens: Tokens
    /// The patch grid of fixed tokens (default: the square root of the token count, as `connkit run`).
    public var grid: Grid?
    /// Initializers of 1 KiB or more go to `OUT.onnx.data` (they do anyway when the model exceeds 2 GiB).
    public var externalData = false
    public var overwrite = false
    /// `--strict`: an f16 cast that turns finite weights into ±inf is an error (`CastOverflowError`, exit
    /// status 1) and nothing is written, instead of a warning.
    public var strict = false
    /// Files the outputs must not be.
    public var inputs: [String] = []
    /// `producer_version` and `connkit.version`.
    public var producerVersion: String
    public var progress: ((WriteProgress) -> Void)?
    /// Called when the model is written, before it is put in place; throwing leaves no output (the CLI
    /// finishes the connector's value checks there, run while the weights are written).
    public var beforeCommit: (() throws -> Void)?

    public init(tokens: Tokens, producerVersion: String) {
        self.tokens = tokens
        self.producerVersion = producerVersion
    }
}

/// What an export wrote.
public struct ExportSummary: Sendable {
    public var path: String
    /// The external data file, when initializers went there.
    public var dataFile: String?
    public var opset: Int
    public var precision: ExportOptions.Precision
    public var input: ONNXValueInfo
    public var output: ONNXValueInfo
    /// The patch grid the fixed tokens form, when the computation used one.
    public var grid: Grid?
    public var nodes: Int
    /// Node counts by op type, sorted by type.
    public var operators: [(type: String, count: Int)]
    public var initializers: Int
    /// Bytes of initializer data, wherever it went.
    public var weightBytes: Int
    public var modelBytes: Int
    public var dataBytes: Int
    public var embeddedInitializers: Int
    public var externalInitializers: Int
    /// Casts to f16 that overflowed.
    public var warnings: [String]
}
