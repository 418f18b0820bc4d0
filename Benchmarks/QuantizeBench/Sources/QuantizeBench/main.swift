import CConnkit
import MachineProbe
import Quantization
import TensorFormats
#if canImport(Glibc)
import Glibc
#endif

/// Measures connkit's in-process kernels on float32 matrices and prints one JSON object:
/// `{"results": [{"op", "shape", "threads", "kernel", "melem_per_s"}…]}`.
///
/// Usage: QuantizeBench [--types q8_0,q4_0,…] [--shapes 4096x4096,4096x1024] [--threads 1,2]
///                      [--kernels fast,portable,reference] [--min-seconds 1.0] [--casts] [--machine] [--cpu-time]
///                      [--ggml path/to/libggml-base.so] [--importance] [--mlx 2,3,4,6,8 [--group-size 64]]
/// With --ggml, ggml's `ggml_quantize_chunk` (one call over the whole matrix, single-threaded) is timed
/// in the same process and reported as kernel "ggml". All the timings of one type and shape alternate in
/// bursts, each keeping its best run.
/// Inputs are bell-shaped values (sum of four uniforms) with a 0.02 scale, like trained weights.
/// With --importance, every quantizer (connkit's and ggml's) is given the same importance vector (one
/// positive weight per column, 2^-4..2^4 log-uniform, as an imatrix's `in_sum2 / counts`), reported as
/// op `quantize-weighted-<type>`.
/// With --mlx, MLX affine quantization (`MLXAffine.quantize`, float32 scales and biases) to each width is
/// timed too, as op `quantize-mlx-q<bits>`; with `--dump DIR` its codes, scales and biases are also written to
/// `DIR/mlx-q<bits>-<rows>x<columns>.{words,scales,biases}` (raw bytes) for quantize_bench.py to compare with
/// `mx.quantize` on the same matrix.
/// `--types ""` leaves out the ggml types.

/// Wall-clock time, or with `--cpu-time` the calling thread's CPU time (for single-threaded runs on a
/// busy machine: it leaves out the time the thread waited for a core).
nonisolated(unsafe) var clock = CLOCK_MONOTONIC

func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(clock, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Runs `body` at least twice and for at least `minSeconds`, returns the best time of one run.
func bestTime(minSeconds: Double, _ body: () throws -> Void) rethrows -> Double {
    var best = Double.infinity
    let start = monotonicSeconds()
    var runs = 0
    while runs < 2 || monotonicSeconds() - start < minSeconds {
        let t0 = monotonicSeconds()
        try body()
        best = min(best, monotonicSeconds() - t0)
        runs += 1
    }
    return best
}

/// Sum of four uniforms minus 2, times 0.02, from a counter-based splitmix64 (quantize_bench.py builds
/// the same matrix with numpy for ggml and gguf-py).
func weights(rows: Int, columns: Int) -> [Float] {
    let count = rows * columns
    func word(_ i: Int) -> UInt64 {
        var z = 0x5EED &+ UInt64(i + 1) &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    func unit(_ i: Int) -> Float { Float(word(i) >> 40) * 0x1p-24 }
    return (0 ..< count).map { i in ((((unit(i) + unit(count + i)) + unit(2 * count + i)) + unit(3 * count + i)) - 2) * 0.02 }
}

var types: [DType] = GGMLBlocks.quantizable
var shapes: [(Int, Int)] = [(4096, 4096)]
var threadCounts = [1, Parallel.processorCount]
var kernels: [QuantizationKernel] = [.fast]
var minSeconds = 1.0
var casts = false
var machine = false
var ggmlPath: String?
var weighted = false
var mlxBits: [Int] = []
var mlxGroupSize = 64
var dumpDirectory: String?

var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--types": types = arguments.next()!.split(separator: ",").map { DType(rawValue: String($0))! }
    case "--mlx": mlxBits = arguments.next()!.split(separator: ",").map { Int($0)! }
    case "--group-size": mlxGroupSize = Int(arguments.next()!)!
    case "--dump": dumpDirectory = arguments.next()!
    case "--shapes":
        shapes = arguments.next()!.split(separator: ",").map { spec in
            let parts = spec.split(separator: "x").map { Int($0)! }
            return (parts[0], parts[1])
        }
    case "--threads": threadCounts = arguments.next()!.split(separator: ",").map { Int($0)! }
    case "--kernels": kernels = arguments.next()!.split(separator: ",").map { name in QuantizationKernel.allCases.first { "\($0)" == name }! }
    case "--min-seconds": minSeconds = Double(arguments.next()!)!
    case "--casts": casts = true
    case "--machine": machine = true
    case "--cpu-time": clock = CLOCK_THREAD_CPUTIME_ID
    case "--ggml": ggmlPath = arguments.next()!
    case "--importance": weighted = true
    default:
        print("unknown argument \(argument)")
        exit(2)
    }
}

typealias QuantizeChunk = @convention(c) (Int32, UnsafePointer<Float>, UnsafeMutableRawPointer, Int64, Int64, Int64,
                                          UnsafePointer<Float>?) -> Int
let ggmlQuantizeChunk: QuantizeChunk? = ggmlPath.map { path in
    guard let handle = dlopen(path, RTLD_NOW), let symbol = dlsym(handle, "ggml_quantize_chunk") else {
        print("cannot load ggml_quantize_chunk from \(path)")
        exit(2)
    }
    return unsafeBitCast(symbol, to: QuantizeChunk.self)
}

var results: [JSONValue] = []
@MainActor func record(_ op: String, _ rows: Int, _ columns: Int, threads: Int, kernel: String, seconds: Double) {
    let rate = Double(rows * columns) / seconds / 1e6
    results.append(.object([
        .init("op", .string(op)), .init("shape", .array([.int(rows), .int(columns)])),
        .init("threads", .int(threads)), .init("kernel", .string(kernel)),
        .init("melem_per_s", .double((rate * 10).rounded() / 10)),
    ]))
    writeError("\(op) \(rows)x\(columns) threads=\(threads) \(kernel): \(Int(rate)) M/s\n")
}

func writeError(_ text: String) {
    var bytes = Array(text.utf8)
    _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
}

/// Runs every body in turn, in bursts of back-to-back runs (at least 50 ms and two runs; a short first
/// run of a burst, which mostly measures waking the threads up, is not counted), until each body has had `minSeconds` and at
/// least three bursts; returns each body's best time. Alternating bursts gives every body a share of the
/// machine's good and bad moments.
func bestTimesInterleaved(minSeconds: Double, _ bodies: [() throws -> Void]) throws -> [Double] {
    var best = [Double](repeating: .infinity, count: bodies.count)
    var spent = [Double](repeating: 0, count: bodies.count)
    var rounds = 0
    while rounds < 3 || spent.contains(where: { $0 < minSeconds }) {
        for (index, body) in bodies.enumerated() {
            let burstStart = monotonicSeconds()
            var runs = 0
            while runs < 2 || monotonicSeconds() - burstStart < 0.05 {
                let t0 = monotonicSeconds()
                try body()
                let elapsed = monotonicSeconds() - t0
                if runs > 0 || elapsed > 0.02 { best[index] = min(best[index], elapsed) }
                runs += 1
            }
            spent[index] += monotonicSeconds() - burstStart
        }
        rounds += 1
    }
    return best
}

for (rows, columns) in shapes {
    let input = weights(rows: rows, columns: columns)
    let importance: [Float]? = weighted ? (0 ..< columns).map { Float(sign: .plus, exponent: Int(input[$0].bitPattern % 9) - 4, significand: 1) } : nil
    let op = weighted ? "quantize-weighted-" : "quantize-"
    for type in types {
        let (blockElements, blockBytes) = type.layout
        var output = [UInt8](repeating: 0, count: rows * columns / blockElements * blockBytes)
        try input.withUnsafeBufferPointer { values in
            try output.withUnsafeMutableBytes { out in
                // connkit's kernels at each thread count and ggml's, alternating.
                var labels: [(threads: Int, kernel: String)] = []
                var bodies: [() throws -> Void] = []
                for kernel in kernels {
                    for threads in threadCounts {
                        labels.append((threads, "\(kernel)"))
                        bodies.append {
                            try GGMLBlocks.quantize(values, rowLength: columns, as: type, importance: importance, into: out,
                                                    threads: threads, kernel: kernel)
                        }
                    }
                }
                if let ggmlQuantizeChunk, let id = type.ggmlType {
                    labels.append((1, "ggml"))
                    bodies.append {
                        _ = ggmlQuantizeChunk(Int32(id), values.baseAddress!, out.baseAddress!, 0, Int64(rows), Int64(columns), importance)
                    }
                }
                let seconds = try bestTimesInterleaved(minSeconds: minSeconds, bodies)
                for (label, time) in zip(labels, seconds) {
                    record(op + type.rawValue, rows, columns, threads: label.threads, kernel: label.kernel, seconds: time)
                }
                // The last body that ran is ggml's: its bytes against connkit's (first kernel, 2 threads).
                if ggmlQuantizeChunk != nil, type.ggmlType != nil {
                    let ggmlBytes = Array(out)
                    try GGMLBlocks.quantize(values, rowLength: columns, as: type, importance: importance, into: out,
                                            threads: 2, kernel: kernels[0])
                    let differing = (0 ..< out.count / blockBytes).filter { b in
                        !out[b * blockBytes ..< (b + 1) * blockBytes].elementsEqual(ggmlBytes[b * blockBytes ..< (b + 1) * blockBytes])
                    }.count
                    results.append(.object([.init("op", .string(op + type.rawValue)), .init("shape", .array([.int(rows), .int(columns)])),
                                            .init("blocks_differing_from_ggml", .int(differing))]))
                    writeError("\(op)\(type.rawValue) \(rows)x\(columns): \(differing) blocks differ from ggml's\n")
                }
            }
        }
    }
    for bits in mlxBits {
        let groups = rows * columns / mlxGroupSize
        var words = [UInt8](repeating: 0, count: rows * columns * bits / 8)
        var scales = [UInt8](repeating: 0, count: groups * 4), biases = scales
        try input.withUnsafeBufferPointer { values in
            try words.withUnsafeMutableBytes { w in
                try scales.withUnsafeMutableBytes { s in
                    try biases.withUnsafeMutableBytes { b in
                        var labels: [(threads: Int, kernel: String)] = []
                        var bodies: [() throws -> Void] = []
                        for kernel in kernels where kernel != .reference {
                            for threads in threadCounts {
                                labels.append((threads, "\(kernel)"))
                                bodies.append {
                                    try MLXAffine.quantize(values, rowLength: columns, groupSize: mlxGroupSize, bits: bits, parameterType: .f32,
                                                           words: w, scales: s, biases: b, threads: threads, kernel: kernel)
                                }
                            }
                        }
                        let seconds = try bestTimesInterleaved(minSeconds: minSeconds, bodies)
                        for (label, time) in zip(labels, seconds) {
                            record("quantize-mlx-q\(bits)", rows, columns, threads: label.threads, kernel: label.kernel, seconds: time)
                        }
                    }
                }
            }
        }
        if let dumpDirectory {
            for (suffix, bytes) in [("words", words), ("scales", scales), ("biases", biases)] {
                let path = "\(dumpDirectory)/mlx-q\(bits)-\(rows)x\(columns).\(suffix)"
                guard let file = fopen(path, "wb"), fwrite(bytes, 1, bytes.count, file) == bytes.count, fclose(file) == 0 else {
                    writeError("cannot write \(path)\n")
                    exit(1)
                }
            }
        }
    }
    if casts {
        var half = [UInt16](repeating: 0, count: rows * columns)
        for (name, body) in [("cast-f32-f16", { ck_f32_to_f16($0, $1, $2) }), ("cast-f32-bf16", { ck_f32_to_bf16($0, $1, $2) })]
            as [(String, (UnsafePointer<Float>, UnsafeMutablePointer<UInt16>, Int) -> Void)] {
            let seconds = input.withUnsafeBufferPointer { values in
                half.withUnsafeMutableBufferPointer { out in
                    bestTime(minSeconds: minSeconds) { body(values.baseAddress!, out.baseAddress!, values.count) }
                }
            }
            record(name, rows, columns, threads: 1, kernel: "fast", seconds: seconds)
        }
    }
}
if machine {
    // The same fixed work on every thread: speed-up against one thread (best of three, alternating), and
    // for the read probe the bytes read per second by all threads together.
    for (name, probe) in [("machine-vector", probe_vector_seconds), ("machine-read", probe_read_seconds)]
        as [(String, (Int32) -> Double)] {
        var best = [Int: Double]()
        for _ in 0 ..< 3 {
            for threads in threadCounts { best[threads] = min(best[threads] ?? .infinity, probe(Int32(threads))) }
        }
        guard let one = best[1], one > 0 else { continue }
        for threads in threadCounts {
            let speedUp = Double(threads) * one / best[threads]!
            var fields: [JSONValue.Member] = [.init("op", .string(name)), .init("threads", .int(threads)),
                                              .init("speed_up", .double((speedUp * 100).rounded() / 100))]
            if name == "machine-read" {
                let gigabytes = Double(threads) * Double(probe_read_bytes_per_thread()) / best[threads]! / 1e9
                fields.append(.init("gb_per_s", .double((gigabytes * 10).rounded() / 10)))
            }
            results.append(.object(fields))
            writeError("\(name) threads=\(threads): speed-up \(speedUp)\n")
        }
    }
}
print(JSONValue.object([.init("results", .array(results))]).serialized())
