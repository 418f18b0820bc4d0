import Foundation
import Testing
@testable import TensorFormats

/// The hostile PyTorch corpus (Tests/Fixtures/hostile/pytorch/generate.py): one file per rejection class.
/// Each must fail with its `FormatError` kind, name the file, and never run anything.
struct PyTorchHostileTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let file: String
        let kind: String
        /// Text the message must contain: a global's name, or a number as the file holds it.
        let mention: String?
        let marker: String?
        var testDescription: String { file }
    }

    static let cases: [Case] = {
        guard let members = try? Fixtures.json("hostile/pytorch/expected.json").objectMembers else { return [] }
        return members.map { member in
            let items = member.value.arrayValue ?? []
            return Case(file: member.key, kind: items.first?.stringValue ?? "?",
                        mention: items.count > 1 ? items[1].stringValue : nil,
                        marker: items.count > 2 ? items[2].stringValue : nil)
        }
    }()

    /// The case name of a kind (`disallowedGlobal`), never its message text.
    static func caseName(_ kind: FormatError.Kind) -> String {
        Mirror(reflecting: kind).children.first?.label ?? String(describing: kind)
    }

    @Test func corpusIsComplete() {
        #expect(Self.cases.count >= 35)
    }

    @Test(arguments: cases)
    func isRefused(_ hostile: Case) throws {
        if let marker = hostile.marker { try? FileManager.default.removeItem(atPath: marker) }
        let path = Fixtures.path("hostile/pytorch/" + hostile.file)
        let error = formatError {
            let checkpoint = try CheckpointReader.open(path)
            // Reading every tensor must fail too if opening did not.
            for tensor in checkpoint.tensors { _ = try bytes(of: tensor) }
        }
        let found = try #require(error)
        if hostile.kind != "any" {
            #expect(Self.caseName(found.kind) == hostile.kind, "\(hostile.file): \(found)")
        }
        #expect(found.file == path)
        #expect(!found.description.contains("\n"), "one line")
        if let mention = hostile.mention {
            #expect(found.description.contains(mention), "the message names \(mention): \(found)")
        }
        if let marker = hostile.marker {
            #expect(!FileManager.default.fileExists(atPath: marker), "nothing from the file ran")
        }
    }

    @Test func disallowedGlobalIsReportedWithItsOffset() throws {
        let error = formatError { _ = try CheckpointReader.open(Fixtures.path("hostile/pytorch/os_system.pt")) }
        #expect(error?.kind == .disallowedGlobal("os.system"))
        guard case .byte(let offset)? = error?.location else {
            Issue.record("expected a byte offset, got \(String(describing: error?.location))")
            return
        }
        #expect(offset > 0)
    }

    /// The unpickler alone, on bytes: the fuzz entry point's path.
    @Test(arguments: [
        ([0x80, 0x02, 0x2E] as [UInt8], "invalidHeader"),       // STOP on an empty stack
        ([0x80, 0x09, 0x4E, 0x2E], "unsupportedVersion"),       // protocol 9
        ([0x80, 0x02, 0x4E, 0x4E, 0x2E], "invalidHeader"),      // two values at STOP
        ([0x80, 0x02, 0x28, 0x4E, 0x2E], "invalidHeader"),      // STOP inside a MARK
        ([0x80, 0x02, 0x8A, 0xFF], "truncated"),                // LONG1 longer than the data
        ([0x80, 0x04, 0x95, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F], "truncated"),  // FRAME past the end
    ])
    func unpicklerRejects(bytes: [UInt8], kind: String) throws {
        let arena = PickleArena()
        defer { arena.tearDown() }
        let error = formatError {
            try bytes.withUnsafeBytes { raw in
                var unpickler = Unpickler(bytes: raw, origin: 0, arena: arena) { _ in .none }
                _ = try unpickler.load()
            }
        }
        #expect(error.map { Self.caseName($0.kind) } == kind)
    }

    @Test func unpicklerReadsScalarsExactly() throws {
        // PROTO 2, (1.5, -7, 2**64 - 1 as LONG1, 'é', True, None) as a tuple, STOP
        let bytes: [UInt8] = [0x80, 0x02, 0x28, 0x47, 0x3F, 0xF8, 0, 0, 0, 0, 0, 0, 0x4A, 0xF9, 0xFF, 0xFF, 0xFF,
                              0x8A, 0x09, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00,
                              0x58, 0x02, 0, 0, 0, 0xC3, 0xA9, 0x88, 0x4E, 0x74, 0x2E]
        let arena = PickleArena()
        defer { arena.tearDown() }
        let value = try bytes.withUnsafeBytes { raw in
            var unpickler = Unpickler(bytes: raw, origin: 0, arena: arena) { _ in .none }
            return try unpickler.load()
        }
        #expect(value.end == bytes.count)
        let items = try #require(value.value.sequenceItems)
        #expect(items.count == 6)
        #expect(TorchStateTree.scalarMetadata(items[0]) == .float64(1.5))
        #expect(TorchStateTree.scalarMetadata(items[1]) == .int64(-7))
        #expect(TorchStateTree.scalarMetadata(items[2]) == .uint64(.max))
        #expect(TorchStateTree.scalarMetadata(items[3]) == .string("é"))
        #expect(TorchStateTree.scalarMetadata(items[4]) == .bool(true))
        #expect(TorchStateTree.scalarMetadata(items[5]) == .string("None"))
    }

    @Test func bigIntegersKeepTheirDecimalValue() {
        // 2**80 + 1 and -(2**80) in little-endian two's complement.
        #expect(TorchStateTree.bigIntText([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]) == "1208925819614629174706177")
        #expect(TorchStateTree.bigIntText([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF]) == "-1208925819614629174706176")
    }
}
