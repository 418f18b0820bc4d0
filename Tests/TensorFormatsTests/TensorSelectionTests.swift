import Testing
import TensorFormats

/// The one selection rule: a pattern that matches nothing, or a selection that leaves nothing, is an error
/// with a near miss when there is one.
struct TensorSelectionTests {
    static let names = ["model.mm_projector.0.weight", "model.mm_projector.0.bias", "model.mm_projector.2.weight",
                        "model.embed_tokens.weight", "visual.merger.mlp.0.weight", "lm_head.weight"]

    @Test(arguments: [
        ("mm_projector.*", "model.mm_projector.*", 3),            // a prefix the names carry
        ("*.0.weight", nil, 0),                                   // matches: no near miss needed (not asked)
        ("0.weight", "*.0.weight", 2),                            // the matches carry different prefixes
        ("model.visual.merger.*", "visual.merger.*", 1),          // a prefix the names lack
        ("mm_projector.0.weight", "model.mm_projector.0.weight", 1),
        ("resampler.*", nil, 0),                                  // nothing close
    ] as [(String, String?, Int)])
    func nearMisses(pattern: String, expected: String?, count: Int) {
        let glob = Glob(pattern)
        if Self.names.contains(where: glob.matches) { return }
        let miss = TensorSelection.nearMiss(for: glob, among: Self.names)
        #expect(miss?.pattern == expected)
        if let expected { #expect(miss?.count == count, "\(expected)") }
    }

    @Test func aPatternThatMatchesNothingIsRefused() {
        #expect(throws: SelectionError(.matchesNothing(option: "--only", pattern: "mm_projector.*",
                                                        nearMiss: .init(pattern: "model.mm_projector.*", count: 3)))) {
            try TensorSelection.requireMatches([Glob("model.*"), Glob("mm_projector.*")], option: "--only", among: Self.names)
        }
        #expect(throws: Never.self) { try TensorSelection.requireMatches([Glob("model.*")], option: "--only", among: Self.names) }
    }

    struct NoData: TensorData {
        func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R { try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        var fileRegion: FileRegion? { nil }
    }

    static let tensors = names.map { Tensor(info: try! TensorInfo(name: $0, dtype: .f32, shape: [0]), data: NoData()) }

    @Test func selectChecksEveryPatternThenWhatIsLeft() throws {
        let selection = TensorSelection(only: [Glob("model.*")], exclude: [Glob("*.bias")])
        #expect(try selection.select(Self.tensors).map(\.name)
            == ["model.mm_projector.0.weight", "model.mm_projector.2.weight", "model.embed_tokens.weight"])
        #expect(try selection.select(Self.tensors, within: Set(["model.mm_projector.2.weight", "model.mm_projector.0.bias", "lm_head.weight"].map(ExactName.init)))
            .map(\.name) == ["model.mm_projector.2.weight"])
        // Within a detected connector's tensors, a pattern matching only others matches nothing.
        #expect(throws: SelectionError.self) {
            try TensorSelection(only: [Glob("lm_head.*")]).select(Self.tensors, within: [ExactName("model.mm_projector.2.weight")])
        }
        #expect(throws: SelectionError(.leavesNothing(options: "--only 'model.*' --exclude 'model.*'"))) {
            try TensorSelection(only: [Glob("model.*")], exclude: [Glob("model.*")]).select(Self.tensors)
        }
        #expect(throws: SelectionError(.leavesNothing(options: "--exclude '*'"))) {
            try TensorSelection(exclude: [Glob("*")]).select(Self.tensors)
        }
    }

    @Test func aSelectionThatLeavesNothingIsRefused() throws {
        let error = SelectionError(.leavesNothing(options: "--only 'model.*' --exclude 'model.*'"))
        #expect(error.code == .emptySelection && error.failure.exitStatus == 2)
        #expect(error.description == "--only 'model.*' --exclude 'model.*' leave no tensor")
        let missing = SelectionError(.matchesNothing(option: "--keep", pattern: "x", nearMiss: .init(pattern: "*.x", count: 1)))
        #expect(missing.inFile("in.gguf").description == "in.gguf: --keep 'x' matches no tensor; did you mean --keep '*.x' (1 tensor)?")
    }
}
