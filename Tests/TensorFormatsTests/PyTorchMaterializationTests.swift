import Foundation
import Testing
@testable import TensorFormats

/// The per-checkpoint cap on bytes PyTorch views materialise beyond the storage they cover, and the checks
/// of a view's offset against its storage.
struct PyTorchMaterializationTests {
    static let stride0 = Fixtures.path("hostile/pytorch/stride0_views_100gib.bin")

    @Test func defaultCapIs4GiB() {
        #expect(ReadOptions().maxMaterializedBytes == 4 << 30)
    }

    /// 100 stride-0 views of one 64-byte storage list 100 GiB: refused by default, naming how much.
    @Test func stride0ViewsAreRefusedWithTheAmount() throws {
        let error = try #require(formatError { _ = try CheckpointReader.open(Self.stride0) })
        #expect(error.kind == .limitExceeded(
            what: "bytes that the views would materialise beyond the 64 storage bytes they cover (100 views repeat storage "
                + "bytes: expanded/stride-0, overlapping or tied):",
            value: String(100 * (1 << 30) - 64), limit: "\(4 << 30) bytes; raise it with --max-materialize SIZE"))
        #expect(error.file == Self.stride0)
        guard case .tensor? = error.location else {
            Issue.record("expected a tensor, got \(String(describing: error.location))")
            return
        }
    }

    /// A higher limit lets the same file be listed (nothing is materialised by listing).
    @Test func aHigherLimitAcceptsIt() throws {
        let checkpoint = try CheckpointReader.open(Self.stride0, options: ReadOptions(maxMaterializedBytes: 100 << 30))
        #expect(checkpoint.tensors.count == 100)
        #expect(checkpoint.tensors.allSatisfy { $0.info.byteCount == 1 << 30 && $0.data.fileRegion == nil })
        #expect(checkpoint.totalBytes == 100 << 30)
    }

    /// Tied weights count once beyond their storage: `w` and `w_tied` share 16 bytes.
    @Test(arguments: [(15, false), (16, true)])
    func tiedWeightsCountTheirRepeat(limit: Int, accepted: Bool) throws {
        let path = Fixtures.path("hostile/accepted/empty_huge_dims.pt")
        let options = ReadOptions(maxMaterializedBytes: limit)
        if accepted {
            #expect(try CheckpointReader.open(path, options: options).tensors.count == 6)
        } else {
            let error = formatError { _ = try CheckpointReader.open(path, options: options) }
            #expect(error?.kind.caseName == "limitExceeded")
            #expect(error?.location == .tensor("w") || error?.location == .tensor("w_tied"))
        }
    }

    /// The cap is per checkpoint: two shards of 16 repeated bytes each pass a 16-byte cap alone, not together.
    @Test(arguments: [(16, false), (32, true)])
    func shardsShareOneBudget(limit: Int, accepted: Bool) throws {
        let folder = Fixtures.path("hostile/accepted/tied_sharded")
        let options = ReadOptions(maxMaterializedBytes: limit)
        for shard in ["pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin"] {
            #expect(try CheckpointReader.open(folder + "/" + shard, options: ReadOptions(maxMaterializedBytes: 16)).tensors.count == 2)
        }
        if accepted {
            #expect(try CheckpointReader.open(folder, options: options).tensors.count == 4)
        } else {
            let error = formatError { _ = try CheckpointReader.open(folder, options: options) }
            #expect(error?.kind.caseName == "limitExceeded")
            #expect(error?.description.contains("other files") == true, "\(String(describing: error))")
            #expect(error?.file == folder + "/pytorch_model-00002-of-00002.bin")
        }
    }

    typealias View = TorchMaterialization.View

    /// Views that cover distinct bytes (a transpose, a fused weight split in three, a strided slice) have no
    /// excess; overlapping and expanded ones are charged what they repeat.
    @Test(arguments: [
        ([View(name: "t", start: 0, span: 64, bytes: 64)], 0),
        ([View(name: "q", start: 0, span: 32, bytes: 32), View(name: "k", start: 32, span: 32, bytes: 32),
          View(name: "v", start: 64, span: 32, bytes: 32)], 0),
        ([View(name: "every-other", start: 0, span: 60, bytes: 32)], 0),
        ([View(name: "a", start: 0, span: 48, bytes: 48), View(name: "b", start: 16, span: 48, bytes: 48)], 32),
        ([View(name: "a", start: 0, span: 16, bytes: 16), View(name: "a-tied", start: 0, span: 16, bytes: 16)], 16),
        ([View(name: "expanded", start: 8, span: 4, bytes: 4096)], 4092),
        ([View(name: "empty", start: 100, span: 0, bytes: 0), View(name: "x", start: 0, span: 8, bytes: 8)], 0),
    ] as [([View], Int)])
    func excessOfViews(_ views: [View], excess: Int) throws {
        let budget = TorchMaterialization(limit: .max)
        try budget.charge(views)
        #expect(budget.excess == excess)
        let exact = TorchMaterialization(limit: excess)
        try exact.charge(views)  // the limit is inclusive
        if excess > 0 {
            let tight = TorchMaterialization(limit: excess - 1)
            #expect(throws: FormatError.self) { try tight.charge(views) }
        }
    }

    /// An empty view at the very end of its storage (`x[10:]`) is valid; one past it is not (offsets in
    /// elements of a 4-element f32 storage).
    @Test(arguments: [(4, nil), (0, nil), (5, "truncated"), (1 << 40, "truncated"), (1 << 62, "overflow")] as [(Int, String?)])
    func emptyViewOffsetIsCheckedAgainstTheStorage(offset: Int, refusal: String?) throws {
        let arena = PickleArena()
        defer { arena.tearDown() }
        let storage = try TorchStorageRef(persistentID: arena.tuple([
            .string("storage"), .global(.typedStorage("FloatStorage")), .string("0"), .string("cpu"), .int(4),
        ]), legacy: false)
        let build = {
            try TorchTensorRef(storage: storage, dtype: .f32, elementSize: 4, storageOffset: offset, sizes: [0, 4],
                               strides: [4, 1])
        }
        if let refusal {
            #expect(formatError { _ = try build() }?.kind.caseName == refusal)
        } else {
            let ref = try build()
            #expect(ref.offsetBytes == offset * 4 && ref.extentBytes == 0 && ref.logicalBytes == 0)
        }
    }

    /// The hostile empty views: refused on open with the offset checked, never reaching a read.
    @Test(arguments: [("empty_view_offset_2p62.pt", "overflow"), ("empty_view_offset_1e9.pt", "truncated")])
    func hugeOffsetsOfEmptyViewsAreRefused(_ file: String, _ kind: String) throws {
        let path = Fixtures.path("hostile/pytorch/" + file)
        let error = try #require(formatError { _ = try CheckpointReader.open(path) })
        #expect(error.kind.caseName == kind, "\(error)")
        #expect(error.file == path)
        #expect(error.description.contains(file.contains("1e9") ? "1000000000" : "4611686018427387904"), "\(error)")
    }
}
