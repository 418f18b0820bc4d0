import Foundation
import Testing
@testable import TensorFormats

/// One test per rejection class of `.npy` files (Tests/Fixtures/hostile/npy, written by
/// Tests/Fixtures/hostile/npy/generate.py): each must fail with the listed `FormatError` kind, naming the file.
@Suite struct NumpyHostileTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let file: String
        let kind: String
        var testDescription: String { "\(file) → \(kind)" }
    }

    static let cases: [Case] = [
        ("bad_magic.npy", "badMagic"),
        ("bad_version.npy", "unsupportedVersion"),
        ("truncated_prefix.npy", "truncated"),
        ("header_length_beyond_file.npy", "truncated"),
        ("header_length_over_cap.npy", "limitExceeded"),
        ("truncated_data.npy", "truncated"),
        ("trailing_bytes.npy", "uncoveredBytes"),
        ("bad_literal.npy", "invalidHeader"),
        ("unterminated_string.npy", "invalidHeader"),
        ("float_literal.npy", "invalidHeader"),
        ("not_a_dict.npy", "invalidHeader"),
        ("text_after_dict.npy", "invalidHeader"),
        ("missing_key.npy", "invalidHeader"),
        ("extra_key.npy", "invalidHeader"),
        ("duplicate_key.npy", "duplicateName"),
        ("fortran_not_bool.npy", "invalidHeader"),
        ("shape_list.npy", "invalidShape"),
        ("shape_not_int.npy", "invalidShape"),
        ("negative_dim.npy", "invalidShape"),
        ("product_overflow.npy", "overflow"),
        ("dim_beyond_int64.npy", "overflow"),
        ("dims_larger_than_file.npy", "truncated"),
        ("too_many_dims.npy", "tooManyDimensions"),
        ("nesting_bomb.npy", "limitExceeded"),
        ("object_pickle.npy", "refused"),
        ("structured_object.npy", "refused"),
        ("structured.npy", "unsupportedDType"),
        ("ml_dtypes_bf16_V2.npy", "unsupportedDType"),
        ("ml_dtypes_f8_e5m2_f1.npy", "unsupportedDType"),
        ("unicode_U3.npy", "unsupportedDType"),
        ("bytes_S4.npy", "unsupportedDType"),
        ("complex128_c16.npy", "unsupportedDType"),
        ("datetime64.npy", "unsupportedDType"),
        ("float128_f16.npy", "unsupportedDType"),
        ("unknown_descr.npy", "unknownDType"),
        ("v3_invalid_utf8.npy", "invalidUTF8"),
    ].map { Case(file: $0.0, kind: $0.1) }

    static let folder = NumpyFixtures.hostile.appendingPathComponent("npy")

    @Test func everyCorpusFileHasACase() {
        #expect(Set(NumpyFixtures.files(in: Self.folder, ext: "npy")) == Set(Self.cases.map(\.file)))
    }

    @Test(arguments: cases)
    func refused(_ hostile: Case) throws {
        let path = Self.folder.appendingPathComponent(hostile.file).path
        do {
            let checkpoint = try NumpyFixtures.readFully(path)
            Issue.record("accepted \(hostile.file): \(checkpoint.tensors.map(\.info))")
        } catch let error as FormatError {
            #expect(NumpyFixtures.kindName(error) == hostile.kind, "\(error)")
            #expect(error.file == path)
            #expect(error.location != nil, "the error says where: \(error)")
        }
    }

    @Test func refusalsNameTheDescr() throws {
        for (file, descr) in [("ml_dtypes_bf16_V2.npy", "<V2"), ("complex128_c16.npy", "<c16"), ("unicode_U3.npy", "<U3"),
                              ("object_pickle.npy", "|O")] {
            let path = Self.folder.appendingPathComponent(file).path
            #expect(throws: FormatError.self) { try NumpyFixtures.read(path) }
            do { _ = try NumpyFixtures.read(path) } catch {
                #expect(String(describing: error).contains(descr), "\(error)")
            }
        }
    }

    @Test func headerOverTheCapIsRefusedBeforeReadingIt() throws {
        try NumpyFixtures.withTemporaryDirectory { directory in
            let length = NpyHeader.maxHeaderBytes + 64
            var file = NpyHeader.magic + [2, 0]
            file += (0 ..< 4).map { UInt8((length >> (8 * $0)) & 0xFF) }
            file += Array("{'descr': '<f4', 'fortran_order': False, 'shape': (0,), }".utf8)
            file += [UInt8](repeating: 0x20, count: length - (file.count - 12) - 1) + [0x0A]
            let path = directory.appendingPathComponent("big.npy").path
            _ = FileManager.default.createFile(atPath: path, contents: Data(file))
            #expect(throws: FormatError.self) { try NumpyFixtures.read(path) }
            do { _ = try NumpyFixtures.read(path) } catch {
                #expect(NumpyFixtures.kindName(error) == "limitExceeded")
            }
        }
    }
}
