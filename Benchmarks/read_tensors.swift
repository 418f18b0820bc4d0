// Reads every tensor of a checkpoint through connkit's readers (CheckpointReader.open, then each tensor's
// bytes via withBytes, every byte summed) and prints the wall time. Built and run by pytorch_bench.py:
//
//     swiftc -O -parse-as-library ... Sources/TensorFormats/**/*.swift Benchmarks/read_tensors.swift
//     read_tensors FILE [RUNS]
import Foundation
import TensorFormats

@main
struct ReadTensors {
    static func main() throws {
        let arguments = CommandLine.arguments
        guard arguments.count >= 2 else {
            FileHandle.standardError.write("usage: read_tensors FILE [RUNS]\n".data(using: .utf8)!)
            exit(2)
        }
        let runs = arguments.count > 2 ? Int(arguments[2]) ?? 1 : 1
        var best = Double.infinity
        var checksum: UInt64 = 0
        var bytes = 0
        for _ in 0 ..< runs {
            let start = Date()
            let checkpoint = try CheckpointReader.open(arguments[1])
            checksum = 0
            bytes = 0
            for tensor in checkpoint.tensors {
                try tensor.withBytes { raw in
                    let words = raw.count / 8
                    let base = raw.baseAddress!
                    var sum: UInt64 = 0
                    for index in 0 ..< words { sum &+= base.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self) }
                    for index in words * 8 ..< raw.count { sum &+= UInt64(raw[index]) }
                    checksum &+= sum
                    bytes += raw.count
                }
                tensor.data.release()
            }
            best = min(best, Date().timeIntervalSince(start))
        }
        print(String(format: "%.3f", best), bytes, checksum)
    }
}
