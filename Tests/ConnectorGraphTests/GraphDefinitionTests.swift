import Testing
import TensorFormats
@testable import ConnectorGraph

@Suite struct GraphDefinitionTests {
    @Test(arguments: Catalog.variants.map { "\($0.family.rawValue)/\($0.variant)" })
    func builtInGraphsVerify(_ id: String) throws {
        let variant = try #require(Catalog.variants.first { "\($0.family.rawValue)/\($0.variant)" == id })
        #expect(variant.graph.verify() == [])
    }

    @Test func dimensionExpressionsParseAndPrint() throws {
        for text in ["D_enc*s*s", "3*E", "E/heads", "N/(m*m)", "X-1", "a-(b-c)", "(a+b)*c", "2*k+2"] {
            let expr = try DimExpr(parsing: text)
            #expect(expr.description == text)
            #expect(try DimExpr(parsing: expr.description) == expr)
        }
        #expect(throws: DimExpr.ParseError.self) { try DimExpr(parsing: "D_enc*") }
        #expect(throws: DimExpr.ParseError.self) { try DimExpr(parsing: "2 3") }
        #expect(throws: DimExpr.ParseError.self) { try DimExpr(parsing: "a$b") }
    }

    @Test func solvingForTheUnknown() throws {
        let bindings = ["s": 2, "heads": 12, "k": 3]
        let lookup: (String) -> Int? = { bindings[$0] }
        #expect(DimExpr("D_enc*s*s").solve(for: "D_enc", equals: 4096, lookup) == 1024)
        #expect(DimExpr("D_enc*s*s").solve(for: "D_enc", equals: 4097, lookup) == nil)
        #expect(DimExpr("E/heads").solve(for: "E", equals: 64, lookup) == 768)
        #expect(DimExpr("D_llm/A").solve(for: "A", equals: 128, { $0 == "D_llm" ? 4096 : nil }) == 32)
        #expect(DimExpr("depth-1").solve(for: "depth", equals: 1, lookup) == 2)
        #expect(DimExpr("2*k+2").evaluate(lookup) == .value(8))
        #expect(DimExpr("7/2").evaluate(lookup) != .value(3))
    }
}
