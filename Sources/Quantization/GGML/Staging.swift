import CConnkit
import TensorFormats

extension IQ4_NL: BlockQuantizer {
    static var facts: BlockFacts { BlockFacts(.iq4_nl, fileType: 25, takesImportance: true) }
    static var vectorGroup: Int { 8 }
    static func quantizeBlockReference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) { quantizeReference(x, y, blocks: 1) }
    static func quantizeVector(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, blocks: Int, finite: inout Bool) -> Int {
        ck_quantize_iq4_nl(x, y.assumingMemoryBound(to: UInt8.self), blocks)
    }
}
