import CConnkit
import TensorFormats

extension Q2_K: BlockQuantizer {
    static var facts: BlockFacts { BlockFacts(.q2_k, fileType: 10, fallback: .iq4_nl, takesImportance: true) }
    static func quantizeBlockReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) { quantizeReference(x, y, blocks: 1) }
    static func quantizePortable(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) -> Bool { quantize(x, y, blocks: blocks); return true }
}
extension Q3_K: BlockQuantizer {
    static var facts: BlockFacts { BlockFacts(.q3_k, fileType: 11, fallback: .iq4_nl, takesImportance: true) }
    static func quantizeBlockReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) { quantizeReference(x, y, blocks: 1) }
    static func quantizePortable(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) -> Bool { quantize(x, y, blocks: blocks); return true }
}
extension Q4_K: BlockQuantizer {
    static var facts: BlockFacts { BlockFacts(.q4_k, fileType: 14, fallback: .q5_0, takesImportance: true) }
    static func quantizeBlockReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) { quantizeReference(x, y, blocks: 1) }
    static func quantizePortable(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) -> Bool { quantize(x, y, blocks: blocks); return true }
}
extension Q5_K: BlockQuantizer {
    static var facts: BlockFacts { BlockFacts(.q5_k, fileType: 16, fallback: .q5_1, takesImportance: true) }
    static func quantizeBlockReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) { quantizeReference(x, y, blocks: 1) }
    static func quantizePortable(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) -> Bool { quantize(x, y, blocks: blocks); return true }
}
extension Q6_K: BlockQuantizer {
    static var facts: BlockFacts { BlockFacts(.q6_k, fileType: 18, fallback: .q8_0, takesImportance: true) }
    static func quantizeBlockReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) { quantizeReference(x, y, blocks: 1) }
    static func quantizePortable(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) -> Bool { quantize(x, y, blocks: blocks); return true }
}
extension IQ4_NL: BlockQuantizer {
    static var facts: BlockFacts { BlockFacts(.iq4_nl, fileType: 25, takesImportance: true) }
    static var vectorGroup: Int { 8 }
    static func quantizeBlockReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) { quantizeReference(x, y, blocks: 1) }
    static func quantizeVector(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int, finite: inout Bool) -> Int {
        ck_quantize_iq4_nl(x, y.assumingMemoryBound(to: UInt8.self), blocks)
    }
}
