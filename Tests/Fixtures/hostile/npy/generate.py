#!/usr/bin/env python3
"""Writes the hostile .npy and .npz corpus (Tests/Fixtures/hostile/npy and hostile/npz): one small file per
rejection class. Each file's expected FormatError kind is listed in Tests/TensorFormatsTests/NumpyHostileTests.swift
and ZipHostileTests.swift. Run: venv/bin/python Tests/Fixtures/hostile/npy/generate.py
Files are built from numpy's own output where possible, then corrupted; the zip files come from a small builder
that lays members out exactly as CPython's zipfile does for np.savez, with knobs to break each rule."""
import os
import struct
import zlib

import ml_dtypes
import numpy as np

NPY = os.path.dirname(os.path.abspath(__file__))
NPZ = os.path.join(os.path.dirname(NPY), "npz")


def npy_bytes(arr, **kw):
    import io
    f = io.BytesIO()
    np.lib.format.write_array(f, arr, allow_pickle=True, **kw)
    return f.getvalue()


def npy_raw(header_text, data=b"", version=(1, 0), encoding=None):
    body = header_text if isinstance(header_text, bytes) else header_text.encode(encoding or ("latin1" if version < (3, 0) else "utf8"))
    prefix = 8 + (2 if version == (1, 0) else 4)
    pad = (64 - (prefix + len(body) + 1) % 64) % 64
    header = body + b" " * pad + b"\n"
    return b"\x93NUMPY" + bytes(version) + len(header).to_bytes(prefix - 8, "little") + header + data


def header(descr, shape, fortran="False"):
    return "{'descr': %s, 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, shape)


F4x2 = np.arange(2, dtype="<f4").tobytes()


# Files numpy.load (allow_pickle=False, reading every member) accepts but connkit refuses: kept exact, so the
# generator fails if numpy's behaviour changes. Everything else in the corpus numpy refuses too.
STRICTER_THAN_NUMPY_NPY = {
    "trailing_bytes.npy",  # numpy ignores bytes after the data
    "duplicate_key.npy",  # Python keeps the last duplicate key
    "ml_dtypes_bf16_V2.npy", "unicode_U3.npy", "bytes_S4.npy", "complex128_c16.npy", "datetime64.npy",
    "float128_f16.npy", "structured.npy",  # valid numpy arrays outside connkit's dtype vocabulary
}
STRICTER_THAN_NUMPY_NPZ = {
    "local_size_mismatch.npz", "local_method_mismatch.npz",  # zipfile trusts the central directory
    "eocd_comment_length_wrong.npz", "zip64_count_mismatch.npz", "multi_disk.npz",
    "entry_count_exceeds_directory.npz",  # zipfile reads entries until the directory's size is used up
    "zip64_locator_bogus_offset.npz",  # zipfile ignores the locator's offset field
    "zip64_extra_missing.npz",  # zipfile takes the 0xFFFFFFFF sentinel as the size
    "overlapping_entries.npz", "duplicate_names.npz", "stored_size_mismatch.npz",
    "data_descriptor_mismatch.npz",  # zipfile never reads the data descriptor
    "bomb_declared_ratio.npz",  # zipfile stops at the end of the deflate stream
    "non_npy_member.npz",  # numpy returns such members as raw bytes
    "member_trailing_bytes.npz",
}


def check_against_numpy(folder, stricter):
    accepted = set()
    for name in sorted(n for n in os.listdir(folder) if n.endswith((".npy", ".npz"))):
        try:
            loaded = np.load(os.path.join(folder, name), allow_pickle=False)
            if hasattr(loaded, "files"):
                with loaded:
                    for key in loaded.files:
                        loaded[key]
            accepted.add(name)
        except Exception:
            pass
    if accepted != stricter:
        raise SystemExit(f"numpy accepts {sorted(accepted - stricter)} (unexpected) "
                         f"and refuses {sorted(stricter - accepted)} (listed as accepted)")


def write(folder, name, data):
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def npy_corpus():
    os.makedirs(NPY, exist_ok=True)
    good = npy_bytes(np.arange(6, dtype="<f4").reshape(2, 3))
    w = lambda name, data: write(NPY, name, data)
    w("bad_magic.npy", b"\x93NUMPZ" + good[6:])
    w("bad_version.npy", good[:6] + b"\x04\x00" + good[8:])
    w("truncated_prefix.npy", good[:9])
    w("header_length_beyond_file.npy", good[:8] + b"\xff\xff" + good[10:40])
    w("header_length_over_cap.npy", b"\x93NUMPY\x02\x00" + struct.pack("<I", 0x7FFFFFFF) + b"{}")
    w("truncated_data.npy", good[:-3])
    w("trailing_bytes.npy", good + b"\0\0\0\0")
    w("bad_literal.npy", npy_raw(header("'<f4'", "(2,)", "Fals"), F4x2))
    w("unterminated_string.npy", npy_raw("{'descr': '<f4, 'fortran_order': False, 'shape': (2,), }", F4x2))
    w("float_literal.npy", npy_raw(header("'<f4'", "(2.0,)"), F4x2))
    w("not_a_dict.npy", npy_raw("['<f4', False, (2,)]", F4x2))
    w("text_after_dict.npy", npy_raw(header("'<f4'", "(2,)") + " x", F4x2))
    w("missing_key.npy", npy_raw("{'descr': '<f4', 'shape': (2,), }", F4x2))
    w("extra_key.npy", npy_raw("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1, }", F4x2))
    w("duplicate_key.npy", npy_raw("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'shape': (2,), }", F4x2))
    w("fortran_not_bool.npy", npy_raw(header("'<f4'", "(2,)", "0"), F4x2))
    w("shape_list.npy", npy_raw(header("'<f4'", "[2]"), F4x2))
    w("shape_not_int.npy", npy_raw(header("'<f4'", "(2, '1')"), F4x2))
    w("negative_dim.npy", npy_raw(header("'<f4'", "(-2, -1)"), F4x2))
    w("product_overflow.npy", npy_raw(header("'<f4'", "(%d, %d)" % (1 << 40, 1 << 40))))
    w("dim_beyond_int64.npy", npy_raw(header("'<f4'", "(%d,)" % 10**30)))
    w("dims_larger_than_file.npy", npy_raw(header("'|u1'", "(%d, %d)" % (1 << 20, 1 << 20)), b"\0" * 16))
    w("too_many_dims.npy", npy_raw(header("'<f4'", "(" + "1, " * 65 + ")"), b"\0" * 4))
    w("nesting_bomb.npy", npy_raw(header("'<f4'", "(" * 200 + "2," + ")" * 200), F4x2))
    w("object_pickle.npy", npy_bytes(np.array([{"a": 1}, "x", None], dtype=object)))
    w("structured_object.npy", npy_bytes(np.zeros(2, dtype=[("a", "<f4"), ("b", "O")])))
    w("structured.npy", npy_bytes(np.zeros(2, dtype=[("a", "<f4"), ("b", "<i4")])))
    w("ml_dtypes_bf16_V2.npy", npy_bytes(np.arange(4, dtype=np.float32).astype(ml_dtypes.bfloat16)))
    w("ml_dtypes_f8_e5m2_f1.npy", npy_bytes(np.arange(4, dtype=np.float32).astype(ml_dtypes.float8_e5m2)))
    w("unicode_U3.npy", npy_bytes(np.array(["abc", "de"], dtype="<U3")))
    w("bytes_S4.npy", npy_bytes(np.array([b"abcd"], dtype="|S4")))
    w("complex128_c16.npy", npy_bytes(np.arange(3, dtype=np.complex128)))
    w("datetime64.npy", npy_bytes(np.array(["2024-01-01"], dtype="datetime64[s]")))
    # x86 long double: 10 significant bytes in 16, the rest uninitialised, so the data is written by hand.
    w("float128_f16.npy", npy_raw(header("'<f16'", "(2,)"), b"\0" * 32))
    w("unknown_descr.npy", npy_raw(header("'<x4'", "(2,)"), F4x2))
    w("v3_invalid_utf8.npy", npy_raw(header("'<f4'", "(2,)").encode().replace(b"<f4", b"<f4\xff"), F4x2, version=(3, 0)))
    check_against_numpy(NPY, STRICTER_THAN_NUMPY_NPY)


# ---------------------------------------------------------------------------------------------------------------
# zip builder


def dos_stamp():
    return 0, 0x21


class Member:
    def __init__(self, name, content, method=0, **knobs):
        self.name = name.encode("utf8") if isinstance(name, str) else name
        self.content = content
        self.method = method
        self.knobs = knobs
        if method == 8:
            c = zlib.compressobj(6, zlib.DEFLATED, -15)
            self.data = c.compress(content) + c.flush()
        else:
            self.data = content
        self.crc = zlib.crc32(content)


def build_zip(members, *, eocd_count=None, cd_size_delta=0, eocd_comment=b"", eocd_comment_len=None,
              gap_before_eocd=b"", zip64_eocd=False, zip64=None, eocd_disk=0):
    out = bytearray()
    central = bytearray()
    for m in members:
        k = m.knobs
        offset = len(out)
        flags = k.get("flags", 0x800 if any(b >= 0x80 for b in m.name) else 0)
        crc = k.get("crc", m.crc)
        usize = k.get("usize", len(m.content))
        csize = k.get("csize", len(m.data))
        local_name = k.get("local_name", m.name)
        local_extra = struct.pack("<HHQQ", 1, 16, k.get("local_usize", usize), k.get("local_csize", csize))
        t, d = dos_stamp()
        local_crc = 0 if flags & 8 else k.get("local_crc", crc)
        out += struct.pack("<IHHHHHIIIHH", k.get("local_sig", 0x04034B50), 45, flags, k.get("local_method", m.method),
                           t, d, local_crc, 0xFFFFFFFF, 0xFFFFFFFF, len(local_name), len(local_extra))
        out += local_name + local_extra + m.data
        if flags & 8:
            out += struct.pack("<IIQQ", 0x08074B50, k.get("descriptor_crc", crc), csize, usize)
        central_extra = k.get("central_extra", b"")
        c32 = k.get("central_csize32", csize)
        u32 = k.get("central_usize32", usize)
        if usize >= 0xFFFFFFFF or csize >= 0xFFFFFFFF:
            central_extra = struct.pack("<HHQQ", 1, 16, usize, csize) + central_extra
            c32 = u32 = 0xFFFFFFFF
        off32 = k.get("offset", offset)
        central += struct.pack("<IHHHHHHIIIHHHHHII", k.get("central_sig", 0x02014B50), 0x032D, 45, flags, m.method,
                               t, d, crc, c32, u32, len(m.name), len(central_extra), 0, k.get("disk", 0), 0,
                               0o600 << 16, off32)
        central += m.name + central_extra
        out += k.get("after", b"")
    cd_offset = len(out)
    out += central
    count = len(members) if eocd_count is None else eocd_count
    if zip64_eocd:
        z = dict(count=count, size=len(central), offset=cd_offset, sig=0x06064B50, record_size=44,
                 locator_offset=None)
        z.update(zip64 or {})
        record_at = len(out)
        out += struct.pack("<IQHHIIQQQQ", z["sig"], z["record_size"], 45, 45, 0, 0, z["count"], z["count"], z["size"],
                           z["offset"])
        locator = record_at if z["locator_offset"] is None else z["locator_offset"]
        out += struct.pack("<IIQI", 0x07064B50, 0, locator, 1)
        cd_count16, cd_size32, cd_offset32 = 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF
        if zip64 and "classic_count" in zip64:
            cd_count16 = zip64["classic_count"]
    else:
        cd_count16, cd_size32, cd_offset32 = count, len(central) + cd_size_delta, cd_offset
    out += gap_before_eocd
    clen = len(eocd_comment) if eocd_comment_len is None else eocd_comment_len
    out += struct.pack("<IHHHHIIH", 0x06054B50, eocd_disk, eocd_disk, cd_count16, cd_count16, cd_size32, cd_offset32,
                       clen) + eocd_comment
    return bytes(out)


def npz_corpus():
    os.makedirs(NPZ, exist_ok=True)
    w = lambda name, data: write(NPZ, name, data)
    a = npy_bytes(np.arange(6, dtype="<f4").reshape(2, 3))
    b = npy_bytes(np.arange(4, dtype="<i2"))
    two = lambda **k: [Member("a.npy", a, **k), Member("b.npy", b)]

    # Sanity: the builder's plain output is a valid npz for numpy.
    import io
    with np.load(io.BytesIO(build_zip(two()))) as z:
        assert z["a"].shape == (2, 3)

    w("not_a_zip.npz", b"PK\x03\x04" + bytes(range(256)) * 4)
    w("eocd_missing.npz", build_zip(two())[:-22])
    w("eocd_comment_length_wrong.npz", build_zip(two(), eocd_comment=b"hello", eocd_comment_len=9))
    w("central_directory_truncated.npz", build_zip(two(), cd_size_delta=40))
    w("entry_count_exceeds_directory.npz", build_zip(two(), eocd_count=60000))
    w("directory_gap.npz", build_zip(two(), gap_before_eocd=b"\0" * 8))
    w("central_bad_signature.npz", build_zip([Member("a.npy", a, central_sig=0x02014B51)]))
    w("local_offset_outside_file.npz", build_zip([Member("a.npy", a, offset=0x7FFFFFF0)]))
    w("local_bad_signature.npz", build_zip([Member("a.npy", a, local_sig=0x04034B51)]))
    w("local_name_mismatch.npz", build_zip([Member("a.npy", a, local_name=b"z.npy")]))
    w("local_size_mismatch.npz", build_zip([Member("a.npy", a, local_usize=len(a) + 1, local_csize=len(a) + 1)]))
    w("local_method_mismatch.npz", build_zip([Member("a.npy", a, local_method=8)]))
    # Member b's local header and data lie inside member a's data.
    inner = Member("b.npy", b)
    inner_bytes = struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0x21, inner.crc, 0xFFFFFFFF, 0xFFFFFFFF,
                              5, 20) + b"b.npy" + struct.pack("<HHQQ", 1, 16, len(b), len(b)) + b
    outer = Member("a.npy", inner_bytes)
    overlap = bytearray(build_zip([outer, Member("b.npy", b, offset=30 + 5 + 20)]))
    w("overlapping_entries.npz", bytes(overlap))
    w("crc_mismatch_stored.npz", build_zip([Member("a.npy", a, crc=zlib.crc32(a) ^ 1)]))
    w("crc_mismatch_deflated.npz", build_zip([Member("a.npy", a, method=8, crc=zlib.crc32(a) ^ 1)]))
    big = np.zeros(1 << 20, np.uint8)
    bomb = Member("a.npy", npy_bytes(big), method=8)
    w("bomb_declared_ratio.npz", build_zip([Member("a.npy", npy_bytes(big), method=8, usize=1 << 40)]))
    assert len(bomb.data) < 2048
    small = npy_raw(header("'<f4'", "(2,)"), F4x2)
    w("inflates_beyond_declared.npz", build_zip([Member("a.npy", small + b"\0" * 100, method=8, usize=len(small))]))
    longer = npy_raw(header("'<f4'", "(30,)"), F4x2)
    w("inflates_short.npz", build_zip([Member("a.npy", longer, method=8, usize=len(longer) + 112)]))
    broken = Member("a.npy", a, method=8)
    broken.data = broken.data[:10] + bytes([broken.data[10] ^ 0xFF]) + b"\xff" * 8 + broken.data[19:]
    w("corrupt_deflate.npz", build_zip([broken]))
    w("truncated_deflate.npz", build_zip([Member("a.npy", a, method=8, csize=20)]))
    w("duplicate_names.npz", build_zip([Member("a.npy", a), Member("a.npy", a)]))
    w("encrypted_flag.npz", build_zip([Member("a.npy", a, flags=1)]))
    w("unsupported_method.npz", build_zip([Member("a.npy", a, method=12)]))
    w("stored_size_mismatch.npz", build_zip([Member("a.npy", a, usize=len(a) + 4, local_usize=len(a) + 4)]))
    w("invalid_utf8_name.npz", build_zip([Member(b"\xff\xfe.npy", a, flags=0x800)]))
    w("multi_disk.npz", build_zip(two(), eocd_disk=1))
    w("data_descriptor_mismatch.npz", build_zip([Member("a.npy", a, flags=8, descriptor_crc=0x12345678)]))
    w("zip64_locator_bogus_offset.npz", build_zip(two(), zip64_eocd=True, zip64={"locator_offset": 1 << 62}))
    w("zip64_record_bad_signature.npz", build_zip(two(), zip64_eocd=True, zip64={"sig": 0x06064B51}))
    w("zip64_count_mismatch.npz", build_zip(two(), zip64_eocd=True, zip64={"count": 3, "classic_count": 2}))
    w("zip64_directory_offset_bogus.npz", build_zip(two(), zip64_eocd=True, zip64={"offset": 1 << 63}))
    w("zip64_extra_missing.npz", build_zip([Member("a.npy", a, central_csize32=0xFFFFFFFF)]))
    w("zip64_extra_truncated.npz", build_zip([Member("a.npy", a, central_usize32=0xFFFFFFFF,
                                                     central_extra=struct.pack("<HHI", 1, 4, 0))]))
    w("non_npy_member.npz", build_zip([Member("a.npy", a), Member("readme.txt", b"hello")]))
    w("member_trailing_bytes.npz", build_zip([Member("a.npy", a + b"\0" * 8)]))
    w("member_object_array.npz", build_zip([Member("o.npy", npy_bytes(np.array([1, "x"], dtype=object)))]))
    w("member_truncated_npy.npz", build_zip([Member("a.npy", a[:-5])]))
    check_against_numpy(NPZ, STRICTER_THAN_NUMPY_NPZ)

if __name__ == "__main__":
    npy_corpus()
    npz_corpus()
    count = lambda folder, ext: sum(name.endswith(ext) for name in os.listdir(folder))
    print(count(NPY, ".npy"), "npy,", count(NPZ, ".npz"), "npz hostile files")
