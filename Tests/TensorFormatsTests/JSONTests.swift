import Testing
import ConnkitTestSupport
@testable import TensorFormats

struct JSONParserTests {
    @Test func keepsOrderExactNumbersAndEscapes() throws {
        let value = try JSONValue.parse(#"{"z": 18446744073709551615, "a": [1.5e-3, -0, true, null], "s": "\u00e9\ud83d\ude00\n"}"#)
        #expect(value.objectMembers?.map(\.key) == ["z", "a", "s"])
        #expect(value["z"]?.uint64Value == UInt64.max)
        #expect(value["z"]?.intValue == nil)
        #expect(value["a"]?.arrayValue?.first == .number("1.5e-3"))
        #expect(value["s"]?.stringValue == "é😀\n")
        #expect(try JSONValue.parse(value.serialized()) == value)
        #expect(try JSONValue.parse(value.serialized(pretty: true)) == value)
    }

    @Test(arguments: [
        (#"{"a":1,"a":2}"#, "duplicateKey"), (#"{"a":{"b":1,"b":1}}"#, "duplicateKey"), ("[1,]", "syntax"),
        ("01", "syntax"), (#""\ud800""#, "syntax"), ("{} x", "syntax"), (#""a"#, "syntax"), ("1.", "syntax"),
        (String(repeating: "[", count: 200) + String(repeating: "]", count: 200), "tooDeep"), ("\"\u{01}\"", "syntax"),
        ("nul", "syntax"), ("", "syntax"),
    ])
    func rejects(text: String, reason: String) {
        do {
            _ = try JSONValue.parse(text)
            Issue.record("accepted \(text)")
        } catch let error as JSONParseError {
            let name = Mirror(reflecting: error.reason).children.first?.label ?? "\(error.reason)"
            #expect(name == reason, "\(text): \(error)")
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test func floatsPrintShortest() {
        #expect(JSONValue.float(0.1).serialized() == "0.1")
        #expect(JSONValue.double(3).serialized() == "3")
        #expect(JSONValue.double(.nan) == .null)
    }
}

struct JSONSchemaTests {
    let schema = JSONSchema(try! JSONValue.parse(#"""
        {"type": "object", "required": ["n"], "additionalProperties": false,
         "properties": {"n": {"type": "integer", "minimum": 0}, "k": {"enum": ["a", "b"]},
                        "xs": {"type": "array", "items": {"$ref": "#/$defs/x"}, "minItems": 1}},
         "$defs": {"x": {"anyOf": [{"type": "string", "pattern": "^x"}, {"type": "null"}]}}}
        """#))

    @Test func acceptsConformingValues() throws {
        #expect(schema.validate(try JSONValue.parse(#"{"n": 3, "k": "a", "xs": ["xy", null]}"#)).isEmpty)
    }

    @Test(arguments: [#"{}"#, #"{"n": -1}"#, #"{"n": 1.5}"#, #"{"n": 1, "k": "c"}"#, #"{"n": 1, "extra": 0}"#,
                      #"{"n": 1, "xs": []}"#, #"{"n": 1, "xs": ["y"]}"#, #"[]"#])
    func reportsViolations(text: String) throws {
        #expect(!schema.validate(try JSONValue.parse(text)).isEmpty, "\(text)")
    }

    @Test func unknownKeywordsAreReportedNotIgnored() throws {
        let odd = JSONSchema(try JSONValue.parse(#"{"type": "object", "dependentRequired": {}}"#))
        #expect(odd.validate(.object([])).first?.message.contains("unsupported") == true)
    }
}
