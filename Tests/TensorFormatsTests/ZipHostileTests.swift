import Foundation
import Testing
@testable import TensorFormats

/// One test per rejection class of zip / `.npz` files (Tests/Fixtures/hostile/npz, written by
/// Tests/Fixtures/hostile/npy/generate.py). Each file is opened and every tensor's data touched (CRC checks and
/// inflation happen on access); the first error must be of the listed kind and name the file.
@Suite struct ZipHostileTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let file: String
        let kind: String
        /// The error comes from touching the data, not from opening (listing stays cheap).
        let onAccess: Bool
        var testDescription: String { "\(file) → \(kind)" }
    }

    static let cases: [Case] = [
        ("not_a_zip.npz", "badMagic", false),
        ("eocd_missing.npz", "badMagic", false),
        ("eocd_comment_length_wrong.npz", "invalidHeader", false),
        ("central_directory_truncated.npz", "truncated", false),
        ("entry_count_exceeds_directory.npz", "truncated", false),
        ("directory_gap.npz", "invalidHeader", false),
        ("central_bad_signature.npz", "badMagic", false),
        ("local_offset_outside_file.npz", "truncated", false),
        ("local_bad_signature.npz", "badMagic", false),
        ("local_name_mismatch.npz", "inconsistent", false),
        ("local_size_mismatch.npz", "inconsistent", false),
        ("local_method_mismatch.npz", "inconsistent", false),
        ("overlapping_entries.npz", "invalidHeader", false),
        ("crc_mismatch_stored.npz", "crcMismatch", true),
        ("crc_mismatch_deflated.npz", "crcMismatch", true),
        ("bomb_declared_ratio.npz", "limitExceeded", false),
        ("inflates_beyond_declared.npz", "compression", true),
        ("inflates_short.npz", "compression", true),
        ("corrupt_deflate.npz", "compression", false),
        ("truncated_deflate.npz", "compression", false),
        ("duplicate_names.npz", "duplicateName", false),
        ("encrypted_flag.npz", "refused", false),
        ("unsupported_method.npz", "unsupportedFormat", false),
        ("stored_size_mismatch.npz", "inconsistent", false),
        ("invalid_utf8_name.npz", "invalidUTF8", false),
        ("multi_disk.npz", "unsupportedFormat", false),
        ("data_descriptor_mismatch.npz", "inconsistent", false),
        ("zip64_locator_bogus_offset.npz", "truncated", false),
        ("zip64_record_bad_signature.npz", "badMagic", false),
        ("zip64_count_mismatch.npz", "inconsistent", false),
        ("zip64_directory_offset_bogus.npz", "overflow", false),
        ("zip64_extra_missing.npz", "invalidHeader", false),
        ("zip64_extra_truncated.npz", "truncated", false),
        ("non_npy_member.npz", "unsupportedFormat", false),
        ("member_trailing_bytes.npz", "sizeMismatch", false),
        ("member_object_array.npz", "refused", false),
        ("member_truncated_npy.npz", "truncated", false),
    ].map { Case(file: $0.0, kind: $0.1, onAccess: $0.2) }

    static let folder = NumpyFixtures.hostile.appendingPathComponent("npz")

    @Test func everyCorpusFileHasACase() {
        #expect(Set(NumpyFixtures.files(in: Self.folder, ext: "npz")) == Set(Self.cases.map(\.file)))
    }

    @Test(arguments: cases)
    func refused(_ hostile: Case) throws {
        let path = Self.folder.appendingPathComponent(hostile.file).path
        var opened = false
        do {
            let checkpoint = try NpzReader.read(MappedFile(path: path))
            opened = true
            for tensor in checkpoint.tensors { _ = try tensor.withBytes { $0.count } }
            Issue.record("accepted \(hostile.file)")
        } catch let error as FormatError {
            #expect(NumpyFixtures.kindName(error) == hostile.kind, "\(error)")
            #expect(opened == hostile.onAccess, "failed \(opened ? "on data access" : "on open"): \(error)")
            #expect(error.file == path)
            #expect(error.location != nil, "the error says where: \(error)")
        }
    }
}
