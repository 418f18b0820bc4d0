import Foundation
import Testing
@testable import TensorFormats

/// Kernel copies are coalesced across adjacent ranges and across small writes that equal the source's
/// next bytes; anything else ends the run. The output must be exactly what was asked for either way.
@Suite struct OutputFileCopyTests {
    @Test func coalescedCopiesWriteExactlyTheRequestedBytes() throws {
        let directory = NSTemporaryDirectory() + "connkit-copy-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // Source: A (100) zeros (28) B (64) 0xEE (32) C (50) D (10)
        var source = [UInt8]((0 ..< 100).map { UInt8($0) }) + [UInt8](repeating: 0, count: 28)
        source += (0 ..< 64).map { UInt8(200 - $0) } + [UInt8](repeating: 0xEE, count: 32) + (0 ..< 60).map { UInt8($0 * 3 & 0xFF) }
        let path = directory + "/source.bin"
        FileManager.default.createFile(atPath: path, contents: Data(source))
        let file = try MappedFile(path: path)
        let output = try OutputFile(path: directory + "/out.bin", overwrite: false)
        var expected: [UInt8] = []
        func copy(_ offset: Int, _ count: Int) throws {
            try output.copy(from: FileRegion(file: file, offset: offset, count: count))
            expected += source[offset ..< offset + count]
        }
        func zeros(_ count: Int) throws {
            try output.writeZeros(count)
            expected += [UInt8](repeating: 0, count: count)
        }
        try copy(0, 100)
        try zeros(28)          // the source's own padding: absorbed into the copy
        try copy(128, 64)      // continues it
        try zeros(32)          // the source holds 0xEE here: written, the copy made first
        try copy(224, 50)
        try copy(274, 10)      // adjacent: extends
        try output.write([1, 2, 3])
        expected += [1, 2, 3]
        try copy(0, 5)         // back to the start of the source: a new copy
        #expect(output.position == expected.count)
        try output.commit()
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: directory + "/out.bin"))) == expected)
    }

    /// Kernel copies are split at the output's multiples of `copyAlignment`: copies that start before,
    /// on and after such a boundary, shorter and longer than it, still write exactly the source's bytes.
    @Test func copiesSplitAtAlignedOutputOffsetsStayExact() throws {
        let directory = NSTemporaryDirectory() + "connkit-copy-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let alignment = OutputFile.copyAlignment
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        let source = (0 ..< 5 * alignment + 777).map { _ -> UInt8 in
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return UInt8(truncatingIfNeeded: state)
        }
        let path = directory + "/source.bin"
        FileManager.default.createFile(atPath: path, contents: Data(source))
        let file = try MappedFile(path: path)
        let output = try OutputFile(path: directory + "/out.bin", overwrite: false)
        var expected: [UInt8] = []
        // (source offset, count), each written after a byte that ends the previous run.
        for (offset, count) in [(13, 2 * alignment + 5), (0, alignment), (4096, alignment - 1), (alignment - 3, 3 * alignment),
                                (1, 10), (2 * alignment, alignment + 1)] {
            try output.write([0xA5])
            expected.append(0xA5)
            try output.copy(from: FileRegion(file: file, offset: offset, count: count))
            expected += source[offset ..< offset + count]
        }
        try output.commit()
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: directory + "/out.bin"))) == expected)
    }
}
