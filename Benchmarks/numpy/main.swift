// Release-mode measurements of the NumPy readers/writers (Benchmarks/numpy/bench.sh builds and runs this).
import Glibc
import TensorFormats

func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

func peakRSSMiB() -> Int {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return usage.ru_maxrss / 1024
}

func report(_ what: String, _ start: Double) {
    let seconds = (now() - start) * 1000
    let padded = what + String(repeating: " ", count: max(0, 44 - what.count))
    print("connkit: \(padded) \(Int(seconds.rounded())) ms, peak RSS \(peakRSSMiB()) MiB")
}

let arguments = CommandLine.arguments
let (mode, path) = (arguments[1], arguments[2])
let start = now()
var checksum: UInt8 = 0
switch mode {
case "list":
    let checkpoint = try NpzReader.read(MappedFile(path: path))
    report("list \(path) (\(checkpoint.tensors.count) tensors)", start)
case "read":
    let checkpoint = path.hasSuffix(".npz") ? try NpzReader.read(MappedFile(path: path)) : try NpyReader.read(MappedFile(path: path))
    for tensor in checkpoint.tensors {
        try tensor.withBytes { bytes in checksum &+= bytes[bytes.count / 2] }
        tensor.data.release()
    }
    report("read every tensor of \(path)", start)
case "rewrite":
    let checkpoint = try NpzReader.read(MappedFile(path: path))
    let output = try OutputFile(path: arguments[3], overwrite: true)
    try NpzWriter.write(tensors: checkpoint.tensors.map { OutputTensor(copying: $0) }, to: output)
    try output.commit()
    report("NpzWriter \(path) -> \(arguments[3])", start)
default:
    fatalError("unknown mode \(mode)")
}
if checksum == 255 { print("") } // keeps the reads from being optimised away
