// swift-tools-version: 6.1
// The forward-pass benchmark's connkit side: a separate package so that `swift build` of connkit never
// builds it. Run it through ../run_bench.py, which measures PyTorch in the same run.
import PackageDescription

let package = Package(
    name: "RunBench",
    dependencies: [.package(name: "connkit", path: "../..")],
    targets: [
        .executableTarget(
            name: "RunBench",
            dependencies: [.product(name: "ConnectorRuntime", package: "connkit"), .product(name: "ConnectorGraph", package: "connkit"),
                           .product(name: "TensorFormats", package: "connkit")],
            path: "Sources/RunBench"),
    ]
)
