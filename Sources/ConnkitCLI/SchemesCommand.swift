import ArgumentParser
import ConnectorGraph
import TensorFormats

struct Schemes: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the naming schemes each connector family can be written in.",
        discussion: """
            A naming scheme is how one ecosystem names a connector's tensors and lays them out: `llava` \
            (the original LLaVA repository), `hf` (transformers >= 4.52, `model.`-prefixed), `hf-legacy` \
            (transformers' files saved before 4.52), `mmproj` (llama.cpp), `lavis`, `open_flamingo`, \
            `minicpmv`, `qwen-vl`, `internvl`, `mobilevlm`. `connkit convert IN OUT --scheme NAME` writes a \
            connector in any scheme of its family. FORMAT is the container the ecosystem's files use.
            """)

    @Argument(help: "Only this family.")
    var family: Choice<Family>?

    @Flag(help: "Print one JSON object (schema: schemas/schemes.schema.json).")
    var json = false

    func run() throws {
        let families = try family.map { [try $0.value] } ?? Family.allCases
        let listings = families.map { ($0, SchemeCatalog.schemes(of: $0)) }
        if json {
            emitJSON(.object([.init("families", .array(listings.map { family, schemes in
                .object([.init("family", .string(family.rawValue)), .init("schemes", .array(schemes.map { scheme in
                    .object([.init("name", .string(scheme.name)), .init("example", .string(scheme.example)),
                             .init("format", .string(scheme.format.rawValue)),
                             .init("variants", .array(scheme.variants.map { .string($0) }))])
                }))])
            }))]))
            return
        }
        let rows = listings.flatMap { family, schemes in
            schemes.map { [family.rawValue, $0.name, $0.format.rawValue, printable($0.example), $0.variants.joined(separator: ", ")] }
        }
        emit(renderTable(["FAMILY", "SCHEME", "FORMAT", "EXAMPLE", "VARIANTS"], rows))
    }
}

extension Schemes: JSONCommand {}
