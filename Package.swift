// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "connkit",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "TensorFormats", targets: ["TensorFormats"]),
        .library(name: "Quantization", targets: ["Quantization"]),
        .library(name: "ConnectorGraph", targets: ["ConnectorGraph"]),
        .library(name: "Deploy", targets: ["Deploy"]),
        .library(name: "ConnectorRuntime", targets: ["ConnectorRuntime"]),
        .library(name: "ConnectorQuantization", targets: ["ConnectorQuantization"]),
        .library(name: "ConnectorExport", targets: ["ConnectorExport"]),
        .library(name: "ConnkitCLI", targets: ["ConnkitCLI"]),
        .executable(name: "connkit", targets: ["connkit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // zlib from the system (zlib1g-dev): raw DEFLATE for .npz members and CRC-32.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        // protobuf-c from the system (libprotobuf-c-dev): the ONNX wire format.
        .systemLibrary(name: "CProtobufC", path: "Sources/CProtobufC"),
        // protobuf-c code generated from schemas/onnx-subset.proto3 (Sources/CONNXProto/generate.sh).
        .target(name: "CONNXProto", dependencies: ["CProtobufC"], path: "Sources/CONNXProto",
                exclude: ["generate.sh"]),
        // Vectorised f16/bf16 <-> f32 casts (runtime F16C/AVX2 detection, portable fallback) and syscall shims.
        .target(name: "CConnkit", path: "Sources/CConnkit"),
        // Byte-level tensor containers: safetensors, npy/npz, GGUF, PyTorch, ONNX; readers, writers, conversion.
        .target(name: "TensorFormats", dependencies: ["CZlib", "CConnkit", "CONNXProto", "CProtobufC"], path: "Sources/TensorFormats"),
        // ggml block quantization (bit-exact with ggml), MLX affine quantization, the selection policy,
        // the accuracy report and the quantize pipeline.
        .target(name: "Quantization", dependencies: ["TensorFormats", "CConnkit"], path: "Sources/Quantization"),
        // Typed connector graphs, built-in families and naming schemes, the checker behind `validate`/`describe`.
        .target(name: "ConnectorGraph", dependencies: ["TensorFormats", "CConnkit"], path: "Sources/ConnectorGraph"),
        // Putting a connector where it runs: splicing it into an llama.cpp mmproj (checks, storage types, keys).
        .target(name: "Deploy", dependencies: ["TensorFormats", "Quantization", "ConnectorGraph"], path: "Sources/Deploy"),
        // OpenBLAS from the system (libopenblas-dev) on Linux: cblas_sgemm. macOS uses Accelerate.
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS"),
        // The runtime's element-wise and row-wise kernels (AVX2+FMA with a bit-identical portable path).
        .target(name: "CRuntimeKernels", path: "Sources/CRuntimeKernels"),
        // Runs a bound connector graph in float32: one interpreter, one kernel per operation, planned buffers.
        .target(
            name: "ConnectorRuntime",
            dependencies: [
                "ConnectorGraph", "TensorFormats", "CRuntimeKernels",
                .target(name: "COpenBLAS", condition: .when(platforms: [.linux])),
            ],
            path: "Sources/ConnectorRuntime",
            linkerSettings: [.linkedFramework("Accelerate", .when(platforms: [.macOS]))]),
        // Quantization judged by what the connector outputs: --eval, importance matrices, --target-cosine.
        .target(name: "ConnectorQuantization", dependencies: ["Quantization", "ConnectorRuntime", "ConnectorGraph", "TensorFormats"],
                path: "Sources/ConnectorQuantization"),
        // Writes a bound connector as an ONNX model computing what the runtime computes (`connkit export`).
        .target(name: "ConnectorExport", dependencies: ["ConnectorGraph", "ConnectorRuntime", "TensorFormats"],
                path: "Sources/ConnectorExport"),
        // The command-line layer (thin): argument parsing, rendering, exit codes.
        .target(
            name: "ConnkitCLI",
            dependencies: [
                "TensorFormats",
                "Quantization",
                "ConnectorGraph",
                "Deploy",
                "ConnectorRuntime",
                "ConnectorQuantization",
                "ConnectorExport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/ConnkitCLI",
            plugins: ["BuildInfo"]),
        // Writes BuildInfo.swift (the commit `connkit --version` prints) before every build; never fails it.
        .plugin(name: "BuildInfo", capability: .buildTool(), path: "Plugins/BuildInfo"),
        .executableTarget(name: "connkit", dependencies: ["ConnkitCLI"], path: "Sources/connkit"),
        // Test support, never shipped: the JSON Schema validator outputs are checked with, and the one harness
        // that runs the built `connkit` binary.
        .target(name: "ConnkitTestSupport", dependencies: ["TensorFormats"], path: "Tests/Support"),
        // The bodies of the libFuzzer entries (Tests/Fuzz/<Name>Fuzz.swift call them; Tests/Fuzz/build.sh builds
        // them with sanitizers), here so that `swift test` replays every corpus file through them.
        .target(name: "FuzzEntries", dependencies: ["TensorFormats", "Quantization", "ConnectorGraph"],
                path: "Tests/Fuzz/Entries"),
        .testTarget(name: "FuzzReplayTests", dependencies: ["FuzzEntries", "TensorFormats", "ConnkitTestSupport"],
                    path: "Tests/FuzzReplayTests"),
        .testTarget(name: "TensorFormatsTests", dependencies: ["TensorFormats", "CONNXProto", "ConnkitTestSupport"],
                    path: "Tests/TensorFormatsTests"),
        .testTarget(name: "QuantizationTests", dependencies: ["Quantization", "TensorFormats", "CConnkit", "ConnkitTestSupport"],
                    path: "Tests/QuantizationTests"),
        .testTarget(
            name: "ConnectorGraphTests",
            dependencies: ["ConnectorGraph", "ConnkitCLI", "TensorFormats", "CConnkit", "ConnkitTestSupport"],
            path: "Tests/ConnectorGraphTests"),
        .testTarget(
            name: "DeployTests",
            dependencies: ["ConnectorGraph", "ConnectorRuntime", "Deploy", "Quantization", "TensorFormats", "CConnkit", "ConnkitTestSupport"],
            path: "Tests/DeployTests"),
        .testTarget(name: "CLITests", dependencies: ["ConnkitCLI", "TensorFormats", "Quantization", "ConnkitTestSupport"],
                    path: "Tests/CLITests"),
        .testTarget(
            name: "ConnectorRuntimeTests",
            dependencies: ["ConnectorRuntime", "ConnectorGraph", "TensorFormats", "CRuntimeKernels", "ConnkitCLI", "ConnkitTestSupport"],
            path: "Tests/ConnectorRuntimeTests"),
        .testTarget(
            name: "ConnectorQuantizationTests",
            dependencies: ["ConnectorQuantization", "Quantization", "ConnectorRuntime", "ConnectorGraph", "TensorFormats", "ConnkitTestSupport"],
            path: "Tests/ConnectorQuantizationTests"),
        .testTarget(
            name: "ConnectorExportTests",
            dependencies: ["ConnectorExport", "ConnectorGraph", "ConnectorRuntime", "TensorFormats", "ConnkitTestSupport"],
            path: "Tests/ConnectorExportTests"),
    ]
)
