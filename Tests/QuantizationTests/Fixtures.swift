import Foundation
import TensorFormats

/// Access to Tests/Fixtures/quant (made by generate.py there) and the Swift mirror of its input recipe.
enum QuantFixtures {
    static let directory: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/quant")

    static func bytes(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: directory.appendingPathComponent(name)))
    }

    static let manifest: JSONValue = {
        let data = try! Data(contentsOf: directory.appendingPathComponent("manifest.json"))
        return try! data.withUnsafeBytes { try JSONValue.parse($0) }
    }()

    static var rows: Int { manifest["inputs"]!["rows"]!.intValue! }
    static var rowLength: Int { manifest["inputs"]!["n_per_row"]!.intValue! }

    /// The fixture inputs, rebuilt exactly as generate.py's `fixture_inputs`.
    static let inputs: [Float] = {
        var values: [Float] = []
        values.reserveCapacity(rows * rowLength)
        for row in 0 ..< rows { values += fixtureRow(row, length: rowLength) }
        return values
    }()

    // MARK: generate.py's recipe

    static let seed: UInt64 = 0x636F_6E6E_6B69_74
    static let kindCount = 32

    /// Counter-based splitmix64: word i = mix(seed + (i + 1) * golden).
    static func splitmix(_ seed: UInt64, _ count: Int) -> [UInt64] {
        (0 ..< count).map { i in
            var z = seed &+ UInt64(i + 1) &* 0x9E37_79B9_7F4A_7C15
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static func unit(_ w: UInt64) -> Float { Float(w >> 40) * 0x1p-24 }
    static func signedUnit(_ w: UInt64) -> Float { (Float(w >> 40) - 8_388_608) * 0x1p-23 }
    static func fromBits(_ sign: UInt32, _ exponent: UInt32, _ mantissa: UInt32) -> Float {
        Float(bitPattern: sign << 31 | exponent << 23 | mantissa)
    }
    /// numpy's `np.float32(python_float)`: decimal -> double -> float32.
    static func f(_ value: Double) -> Float { Float(value) }

    static func fixtureRow(_ row: Int, length n: Int) -> [Float] {
        let words = splitmix(seed &+ UInt64(row) &* 0x10001, 4 * n)
        let kind = row % kindCount
        return (0 ..< n).map { i -> Float in
            let w0 = words[i], w1 = words[n + i], w2 = words[2 * n + i], w3 = words[3 * n + i]
            let g = (((unit(w0) + unit(w1)) + unit(w2)) + unit(w3)) - 2
            let sign = UInt32(w0 & 1)
            let mantissa = UInt32(w2 & 0x7F_FFFF)
            let u = UInt64(i)
            switch kind {
            case 0: return 0
            case 1: return fromBits(sign, 0, 0)
            case 2: return signedUnit(words[0]) * 8
            case 3: return signedUnit(words[(i / 32) * 32]) * 4
            case 4: return g
            case 5: return g * f(0.02)
            case 6: return signedUnit(w0)
            case 7: return unit(w0)
            case 8: return -unit(w0)
            case 9: return abs(g)
            case 10: return fromBits(sign, UInt32(111 + w1 % 24), mantissa)
            case 11: return w3 % 8 == 0 ? g : 0
            case 12: return w3 % 32 == 0 ? g : 0
            case 13: return fromBits(sign, 0, mantissa)
            case 14: return fromBits(sign, UInt32(1 + w1 % 16), mantissa)
            case 15: return fromBits(sign, UInt32(75 + w1 % 4), mantissa)
            case 16: return fromBits(sign, UInt32(200 + w1 % 55), mantissa)
            case 17: return (unit(w0) * 10000 + 60000) * (sign == 1 ? -1 : 1)
            case 18: return w1 % 16 == 0 ? (sign == 1 ? -Float.greatestFiniteMagnitude : .greatestFiniteMagnitude) : g
            case 19: return Float(w0 % 17) - 8
            case 20: return u % 32 == 7 ? 127 : Float(w0 % 254) - 126.5
            case 21: return u % 32 == 3 ? -8 : (Float(w0 % 16) - 8) + 0.5
            case 22:
                let exponent = Int(words[n + (i / 16) * 16] % 41) - 20
                return g * Float(sign: .plus, exponent: exponent, significand: 1)
            case 23: return w2 % 97 == 0 ? g * 1000 : g
            case 24: return u % 2 == 0 ? g * f(1e20) : g * f(1e-20)
            case 25: return g * f(1e-30)
            case 26: return g * f(1e-6)
            case 27: return g * f(1e7)
            case 28: return unit(w0) + 1000
            case 29: return Float(i) * f(0.01) - 5
            case 30:
                var bits = UInt32(truncatingIfNeeded: w0)
                if bits & 0x7F80_0000 == 0x7F80_0000 { bits &= 0xBFFF_FFFF }
                return Float(bitPattern: bits)
            default: return u % 16 == 5 ? 3 : (u % 16 == 9 ? -3 : g)
            }
        }
    }
}

/// FNV-1a 64 over raw bytes, printed as 16 lower-case hex digits (generate.py's `fnv64`).
func fnv64(_ bytes: UnsafeRawBufferPointer) -> String {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in bytes {
        hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3
    }
    let digits = String(hash, radix: 16)
    return String(repeating: "0", count: 16 - digits.count) + digits
}

func fnv64(_ values: [Float]) -> String {
    values.withUnsafeBytes { fnv64($0) }
}
