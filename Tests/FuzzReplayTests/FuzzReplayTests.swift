import ConnkitTestSupport
import Foundation
import FuzzEntries
import Testing
import TensorFormats

/// Replays every committed corpus file (everything under Tests/Fixtures: the fixtures and hostile corpora
/// that seed the fuzzers) through every fuzz entry's body, without sanitizers: fast, and any finding — or a
/// trap, which ends the test run — is a bug the fuzzers would report.
struct FuzzReplayTests {
    static let corpus: [String] = {
        let root = CLI.repositoryRoot + "/Tests/Fixtures"
        let files = FileManager.default.enumerator(atPath: root)?.compactMap { $0 as? String } ?? []
        return files.filter { relative in
            var directory: ObjCBool = false
            return FileManager.default.fileExists(atPath: root + "/" + relative, isDirectory: &directory) && !directory.boolValue
                && !relative.hasSuffix(".py")
        }.sorted().map { root + "/" + $0 }
    }()

    @Test func theCorpusIsThere() {
        #expect(Self.corpus.count > 500)
    }

    /// The property of issue 11's class 5: whatever `convert` and `quantize` write from a checkpoint of the
    /// fixture and hostile corpora (opened by path as the CLI opens it, sharded folders included), connkit's
    /// own reader reads back, with the same tensors; refusals leave nothing behind.
    @Test func whatTheWritersWriteReadsBack() throws {
        let root = CLI.repositoryRoot + "/Tests/Fixtures"
        let folders = Set(Self.corpus.map { ($0 as NSString).deletingLastPathComponent })
        var accepted = 0
        for path in Self.corpus + folders.sorted() {
            guard let checkpoint = try? CheckpointReader.open(path) else { continue }
            accepted += 1
            let findings = WriterRoundTrip.check(checkpoint)
            #expect(findings.isEmpty, "\(path.dropFirst(root.count)): \(findings.joined(separator: "; "))")
        }
        #expect(accepted > 250)
    }

    @Test(arguments: FuzzEntries.all.map(\.name))
    func everyCorpusFileThroughTheEntry(_ name: String) throws {
        let run = try #require(FuzzEntries.all.first { $0.name == name }?.run)
        for path in Self.corpus {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            let findings = data.withUnsafeBytes { run($0) }
            #expect(findings.isEmpty, "\(name) on \(path): \(findings.joined(separator: "; "))")
        }
    }
}
