// swift-tools-version: 6.1
// The quantization benchmark: a separate package so that `swift build` of connkit never builds it.
// Run it through ../quantize_bench.py, which also measures ggml and gguf-py in the same run.
import PackageDescription

let package = Package(
    name: "QuantizeBench",
    dependencies: [.package(name: "connkit", path: "../..")],
    targets: [
        .executableTarget(
            name: "QuantizeBench",
            dependencies: [.product(name: "Quantization", package: "connkit"),
                           .product(name: "TensorFormats", package: "connkit")],
            path: "Sources/QuantizeBench"),
    ]
)
