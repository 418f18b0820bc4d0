import Testing
import TensorFormats
@testable import ConnectorGraph

/// Every family × naming scheme, at the published dimensions of a real release, with names and shapes
/// dumped from the real implementations (Tests/Fixtures/graph/meta): validates, with the right family,
/// variant, scheme and dimensions. Large tensors are holes in a sparse file; values are not read. The
/// release's config.json (as transformers' save_pretrained writes it) is used when there is one, as
/// `validate` does for a folder holding one.
@Suite struct RealDimensionTests {
    @Test(arguments: MetaFixture.all)
    func detectsAndValidates(_ file: String) throws {
        let fixture = try MetaFixture(file)
        let directory = temporaryDirectory()
        let checkpoint = try fixture.checkpoint(directory: directory)
        let report = Validator.validate(ValidationRequest(checkpoint: checkpoint, configs: fixture.config.map { [$0] } ?? [], checkValues: false))
        #expect(report.valid, "\(file):\n\(report.text)")
        #expect(report.family == fixture.expectFamily, "\(file):\n\(report.text)")
        #expect(report.variant == fixture.expectVariant, "\(file):\n\(report.text)")
        #expect(report.scheme == fixture.scheme, "\(file):\n\(report.text)")
        for (key, value) in fixture.expectDims {
            #expect(report.dim(key) == value, "\(file): \(key)\n\(report.text)")
        }
        let warnings = report.diagnostics.filter { $0.severity == .warning }.map(\.code.rawValue)
        #expect(warnings == fixture.expectWarnings, "\(file):\n\(report.text)")
    }
}
