import Foundation
import Testing
@testable import TensorFormats
#if canImport(Glibc)
import Glibc
#endif

/// Only regular files are read: FIFOs (which would block an `open` for ever), sockets, devices and
/// directories are refused without blocking, wherever a path comes from (the command line, a folder, an
/// index's shard list). A byte range outside a mapping is a thrown error, never a trap.
struct NonRegularFileTests {
    /// Runs `body` on a thread and fails (instead of hanging the suite) if it does not return within 20 s;
    /// a FIFO's reader blocked in `open` is then released by opening the FIFO for writing.
    private func withoutBlocking(fifo: String?, _ body: @escaping @Sendable () -> FormatError?) -> FormatError? {
        let done = DispatchSemaphore(value: 0)
        let result = ResultBox()
        Thread.detachNewThread {
            result.error = body()
            done.signal()  // orders the write before the waiter's read
        }
        if done.wait(timeout: .now() + 20) == .timedOut {
            Issue.record("reading blocked")
            if let fifo {
                let writer = open(fifo, O_WRONLY | O_NONBLOCK)
                if writer >= 0 { close(writer) }
            }
            _ = done.wait(timeout: .now() + 20)
        }
        return result.error
    }

    private func refusal(_ path: String, fifo: String? = nil) -> FormatError? {
        withoutBlocking(fifo: fifo) {
            do {
                _ = try CheckpointReader.open(path)
                return nil
            } catch let error as FormatError {
                return error
            } catch {
                return nil
            }
        }
    }

    /// Where a FIFO can be met: as the path given, as an index, as the model file of a folder, as a shard,
    /// as an ONNX model's external data file.
    enum FIFOPlace: String, CaseIterable, Sendable {
        case path, index, folderModel, shard, onnxExternalData
    }

    @Test(arguments: FIFOPlace.allCases)
    func fifoIsRefusedWithoutBlocking(_ place: FIFOPlace) throws {
        let directory = try TemporaryDirectory()
        let name = switch place {
        case .path: "p.safetensors"
        case .index: "model.safetensors.index.json"
        case .folderModel: "model.safetensors"
        case .shard: "model-00001-of-00001.safetensors"
        case .onnxExternalData: "link.bin"
        }
        let fifo = directory.file(name)
        #expect(mkfifo(fifo, 0o600) == 0)
        if place == .shard {
            let index = "{\"weight_map\": {\"w\": \"model-00001-of-00001.safetensors\"}}"
            try writeFile(directory.file("model.safetensors.index.json"), Array(index.utf8))
        }
        if place == .onnxExternalData {
            try FileManager.default.copyItem(atPath: Fixtures.path("hostile/onnx/external_symlink/model.onnx"),
                                             toPath: directory.file("model.onnx"))
        }
        let error = try #require(refusal(place == .path || place == .index ? fifo : directory.path, fifo: fifo))
        #expect(error.file == fifo)
        #expect(error.description.contains("FIFO"), "\(error)")
        #expect(!error.description.contains("\n"))
    }

    @Test func devicesAreRefused() throws {
        for device in ["/dev/null", "/dev/zero"] where FileManager.default.fileExists(atPath: device) {
            let error = try #require(refusal(device))
            #expect(error.description.contains("character device"), "\(error)")
        }
    }

    @Test func socketIsRefused() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("s.gguf")
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        #expect(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        try #require(bytes.count < MemoryLayout.size(ofValue: address.sun_path))
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(bound == 0)
        let error = try #require(refusal(path))
        #expect(error.description.contains("socket"), "\(error)")
    }

    @Test func directoryIsRefusedAsAFile() throws {
        let directory = try TemporaryDirectory()
        let error = formatError { _ = try MappedFile(path: directory.path) }
        #expect(error?.description.contains("directory") == true)
    }

    /// `withBytes(offset:count:)` throws for a range outside the mapping (a reader that forgot a check)
    /// instead of trapping.
    @Test(arguments: [(0, 9), (9, 0), (-1, 1), (4, -1), (Int.max, 1), (1, Int.max)] as [(Int, Int)])
    func rangesOutsideTheMappingThrow(offset: Int, count: Int) throws {
        let file = try [UInt8](repeating: 7, count: 8).withUnsafeBytes { try MappedFile(copying: $0, path: "eight.bin") }
        let error = formatError { try file.withBytes(offset: offset, count: count) { _ in } }
        #expect(error?.kind.caseName == "truncated")
        #expect(error?.file == "eight.bin")
        file.release(offset: offset, count: count)           // hints never trap either
        #expect(try file.withBytes(offset: 8, count: 0) { $0.count } == 0)
    }
}

/// The result of a read run on another thread; written before the semaphore is signalled, read after.
private final class ResultBox: @unchecked Sendable {
    var error: FormatError?
}
