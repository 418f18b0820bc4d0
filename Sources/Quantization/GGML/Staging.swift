import CConnkit
import TensorFormats

// Temporary: conformances over the existing per-type functions, until the files with decoders are restructured.
extension Q8_0 { static func quantizeBlockReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) { quantizeReference(x, y, blocks: 1) } }
extension Q4_0 { static func quantizeBlockReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) { quantizeReference(x, y, blocks: 1) } }
extension Q4_1 { static func quantizeBlockReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) { quantizeReference(x, y, blocks: 1) } }
extension Q5_0 { static func quantizeBlockReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) { quantizeReference(x, y, blocks: 1) } }
extension Q5_1 { static func quantizeBlockReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) { quantizeReference(x, y, blocks: 1) } }

extension Q2_K: BlockQuantizer {
    static var type: DType { .q2_k }
    static var fileType: UInt32 { 10 }
    static var fallback: DType? { .iq4_nl }
    static var takesImportance: Bool { true }
    static func quantizeBlockReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) { quantizeReference(x, y, blocks: 1) }
    static func quantizePortable(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) -> Bool { quantize(x, y, blocks: blocks); return true }
}
extension Q3_K: BlockQuantizer {
    static var type: DType { .q3_k }
    static var fileType: UInt32 { 11 }
    static var fallback: DType? { .iq4_nl }
    static var takesImportance: Bool { true }
    static func quantizeBlockReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) { quantizeReference(x, y, blocks: 1) }
    static func quantizePortable(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) -> Bool { quantize(x, y, blocks: blocks); return true }
}
extension Q4_K: BlockQuantizer {
    static var type: DType { .q4_k }
    static var fileType: UInt32 { 14 }
    static var fallback: DType? { .q5_0 }
    static var takesImportance: Bool { true }
    static func quantizeBlockReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) { quantizeReference(x, y, blocks: 1) }
    static func quantizePortable(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) -> Bool { quantize(x, y, blocks: blocks); return true }
}
extension Q5_K: BlockQuantizer {
    static var type: DType { .q5_k }
    static var fileType: UInt32 { 16 }
    static var fallback: DType? { .q5_1 }
    static var takesImportance: Bool { true }
    static func quantizeBlockReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) { quantizeReference(x, y, blocks: 1) }
    static func quantizePortable(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) -> Bool { quantize(x, y, blocks: blocks); return true }
}
extension Q6_K: BlockQuantizer {
    static var type: DType { .q6_k }
    static var fileType: UInt32 { 18 }
    static var fallback: DType? { .q8_0 }
    static var takesImportance: Bool { true }
    static func quantizeBlockReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) { quantizeReference(x, y, blocks: 1) }
    static func quantizePortable(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int) -> Bool { quantize(x, y, blocks: blocks); return true }
}
extension IQ4_NL: BlockQuantizer {
    static var type: DType { .iq4_nl }
    static var fileType: UInt32 { 25 }
    static var takesImportance: Bool { true }
    static var vectorGroup: Int { 8 }
    static func quantizeBlockReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) { quantizeReference(x, y, blocks: 1) }
    static func quantizeVector(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int, finite: inout Bool) -> Int {
        ck_quantize_iq4_nl(x, y.assumingMemoryBound(to: UInt8.self), blocks)
    }
}
