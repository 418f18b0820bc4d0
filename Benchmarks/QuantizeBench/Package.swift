// swift-tools-version: 6.1
// The quantization benchmark: a separate package so that `swift build` of connkit never builds it.
// Run it through ../quantize_bench.py, which also measures ggml and gguf-py in the same run.
import PackageDescription

let package = Package(
    name: "QuantizeBench",
    dependencies: [.package(name: "connkit", path: "../..")],
    targets: [
        // The machine's own multi-core ceiling (a register-only vector loop, memory reads), measured in
        // the same run as the kernels.
        .target(name: "MachineProbe", path: "Sources/MachineProbe"),
        .executableTarget(
            name: "QuantizeBench",
            dependencies: [.product(name: "Quantization", package: "connkit"),
                           .product(name: "TensorFormats", package: "connkit"), "MachineProbe"],
            path: "Sources/QuantizeBench"),
    ]
)
