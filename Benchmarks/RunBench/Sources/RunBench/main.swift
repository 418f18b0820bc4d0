// RunBench CKPT FEATURES [--warmup W] [--repeats N]
//
// Binds CKPT's connector as `connkit validate` does (the config.json beside it), loads its weights, then
// times N forward passes on FEATURES after W warm-up passes, with the weights loaded: the figure to set
// against PyTorch's per-forward time. Prints one JSON object:
//   {"bind": s, "forward_median": s, "forward_best": s, "forwards": [s…], "threads": n, "output_shape": [...]}
#if canImport(Glibc)
import Glibc
#endif
import ConnectorGraph
import ConnectorRuntime
import TensorFormats

func now() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
}

func fail(_ message: String) -> Never {
    var line = Array("RunBench: \(message)\n".utf8)
    _ = line.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
    exit(2)
}

/// `--name N` removed from `arguments`, its value returned.
func option(_ name: String, _ arguments: inout [String]) -> Int? {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count, let value = Int(arguments[index + 1]) else { return nil }
    arguments.removeSubrange(index ... index + 1)
    return value
}
var arguments = Array(CommandLine.arguments.dropFirst())
let warmup = option("--warmup", &arguments) ?? 2
let repeats = max(1, option("--repeats", &arguments) ?? 5)
guard arguments.count == 2 else { fail("usage: RunBench CKPT FEATURES [--warmup W] [--repeats N]") }

do {
    let start = now()
    let checkpointPath = arguments[0]
    let folder = checkpointPath.split(separator: "/").dropLast().joined(separator: "/")
    let configPath = (checkpointPath.hasPrefix("/") ? "/" : "") + folder + "/config.json"
    let config = access(configPath, R_OK) == 0 ? try ConfigReader.read(path: configPath) : nil
    let report = Validator.validate(ValidationRequest(checkpoint: try CheckpointReader.open(checkpointPath), config: config, checkValues: false))
    guard report.valid, let bound = report.connector else { fail("\(checkpointPath) does not validate") }
    let connector = try Connector(bound: bound)
    let features = try Features.read(path: arguments[1])
    let bind = now() - start
    var shape: [Int] = []
    for _ in 0 ..< warmup { shape = try connector.run(features).shape }
    var times: [Double] = []
    for _ in 0 ..< repeats {
        let t0 = now()
        shape = try connector.run(features).shape
        times.append(now() - t0)
    }
    let sorted = times.sorted()
    let median = sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    let json = JSONValue.object([
        .init("bind", .double(bind)), .init("forward_median", .double(median)), .init("forward_best", .double(sorted[0])),
        .init("forwards", .array(times.map { .double($0) })), .init("threads", .int(Connector.threads)),
        .init("output_shape", .array(shape.map { .int($0) })),
    ])
    print(json.serialized(pretty: false))
} catch {
    fail("\(error)")
}
