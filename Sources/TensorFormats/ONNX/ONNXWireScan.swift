import CONNXProto
import CProtobufC
#if canImport(Glibc)
import Glibc
#endif

/// The bounds-and-depth scanner run over a model's bytes before protobuf-c unpacks them.
///
/// protobuf-c decodes the wire format; this only walks it first, guided by protobuf-c's own generated
/// descriptors, because protobuf-c recurses without a limit and allocates before it could object. It
/// checks, for every field of every message the subset declares (and the extent of every other field):
///
/// - tags and varints end inside their message and are at most 10 bytes; field numbers are 1 … 2^29 − 1;
/// - the wire type is one of 0, 1, 2, 5 (groups, 3 and 4, are not used by ONNX) and is the one the declared
///   field needs (2 is also accepted for a repeated scalar: the packed encoding, whose content is checked
///   the same way);
/// - every length-delimited value lies inside its enclosing message;
/// - string fields hold no NUL byte (protobuf-c hands them over as C strings, which would cut them there);
/// - graphs nested in attributes (`AttributeProto.g`/`.graphs`) are at most `maxGraphDepth` levels below
///   the model's graph — the only recursion the subset declares, so the depth of protobuf-c's own
///   recursion is bounded too;
/// - what protobuf-c will allocate, estimated from the wire (every struct, array, copied string, bytes
///   and unknown field, plus its temporary per-field records), stays below `allocationLimit(fileSize:)`.
struct ONNXWireScan {
    static let maxGraphDepth = 8

    /// protobuf-c's allocations may reach twice the model's size (bytes fields are copied; an int64 stored
    /// as a one-byte varint takes 8) plus a fixed 256 MiB for the structs of large graphs.
    static func allocationLimit(fileSize: Int) -> Int {
        (Checked.multiply(fileSize, 2) ?? Int.max / 2) &+ 256 << 20
    }

    /// Scans a serialized `ModelProto`; returns the allocation estimate.
    static func scanModel(_ bytes: UnsafeRawBufferPointer) throws -> Int {
        var scan = ONNXWireScan(bytes: bytes)
        try scan.message(ONNXDescriptors.model, from: 0, to: bytes.count, graphs: 0)
        let limit = allocationLimit(fileSize: bytes.count)
        guard scan.estimate <= limit else {
            throw FormatError(.limitExceeded(what: "memory protobuf-c would allocate to unpack the model (estimated)",
                                             value: "\(scan.estimate) bytes", limit: "\(limit) bytes (2 × the file + 256 MiB)"),
                              at: .byte(0))
        }
        return scan.estimate
    }

    private let bytes: UnsafeRawBufferPointer
    private var estimate = 0
    /// Names of the fields from the root to the message being scanned (static strings of the descriptors).
    private var path: [UnsafePointer<CChar>] = []

    private init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    /// Per allocation: malloc's own header, rounded up.
    private static let allocationOverhead = 16
    /// protobuf-c records every field occurrence of a message in a temporary `ScannedMember` (32 bytes),
    /// in slabs that double: at most 64 bytes per occurrence.
    private static let scannedMemberCost = 64

    private mutating func message(_ descriptor: UnsafePointer<ProtobufCMessageDescriptor>, from start: Int, to end: Int,
                                  graphs: Int) throws {
        var graphs = graphs
        if descriptor == ONNXDescriptors.graph {
            graphs += 1
            guard graphs - 1 <= ONNXWireScan.maxGraphDepth else {
                throw FormatError(.limitExceeded(what: "depth of graphs nested in attributes", value: "\(graphs - 1)",
                                                 limit: "\(ONNXWireScan.maxGraphDepth)"),
                                  at: .fieldByte(pathText(), start))
            }
        }
        estimate &+= descriptor.pointee.sizeof_message + ONNXWireScan.allocationOverhead
        var position = start
        while position < end {
            let tagAt = position
            let key = try varint(&position, end: end, field: nil)
            let number = key >> 3
            let wireType = Int(key & 7)
            guard number >= 1, number <= 0x1FFF_FFFF else {
                throw invalid("field number \(number) outside 1…536870911", field: nil, at: tagAt)
            }
            let field = protobuf_c_message_descriptor_get_field(descriptor, UInt32(number))
            let fieldName = field?.pointee.name
            let valueStart: Int
            switch wireType {
            case 0:
                valueStart = position
                _ = try varint(&position, end: end, field: fieldName, number: number)
            case 1, 5:
                let width = wireType == 1 ? 8 : 4
                guard end - position >= width else {
                    throw FormatError(.truncated(what: "\(width)-byte value", needed: width, available: end - position),
                                      at: .fieldByte(pathText(fieldName, number: number), position))
                }
                valueStart = position
                position += width
            case 2:
                let length = try varint(&position, end: end, field: fieldName, number: number)
                guard length <= UInt64(end - position) else {
                    throw FormatError(.truncated(what: "length-delimited value", needed: Int(clamping: length),
                                                 available: end - position),
                                      at: .fieldByte(pathText(fieldName, number: number), position))
                }
                valueStart = position
                position += Int(length)
            case 3, 4:
                throw invalid("wire type \(wireType) (a group) is not used by ONNX", field: fieldName, number: number, at: tagAt)
            default:
                throw invalid("wire type \(wireType) does not exist", field: fieldName, number: number, at: tagAt)
            }
            estimate &+= ONNXWireScan.scannedMemberCost
            if let field {
                try known(field, wireType: wireType, from: valueStart, to: position, tagAt: tagAt, graphs: graphs)
            } else {
                // An unknown field: protobuf-c copies its tag and value.
                estimate &+= 24 + ONNXWireScan.allocationOverhead + (position - tagAt)
            }
        }
    }

    private mutating func known(_ field: UnsafePointer<ProtobufCFieldDescriptor>, wireType: Int, from start: Int, to end: Int,
                                tagAt: Int, graphs: Int) throws {
        let repeated = field.pointee.label == PROTOBUF_C_LABEL_REPEATED
        let name = field.pointee.name
        let type = field.pointee.type
        let (naturalWire, size) = ONNXWireScan.wireLayout(type)
        if wireType != naturalWire {
            // A repeated scalar may be packed: a length-delimited run of values.
            guard repeated, wireType == 2, naturalWire != 2 else {
                throw invalid("wire type \(wireType) where this \(ONNXWireScan.typeName(type)) field needs \(naturalWire)",
                              field: name, at: tagAt)
            }
            let count = try packedCount(naturalWire: naturalWire, from: start, to: end, field: name)
            estimate &+= count &* size &+ ONNXWireScan.allocationOverhead
            return
        }
        if repeated { estimate &+= size }
        switch type {
        case PROTOBUF_C_TYPE_STRING:
            if end > start, memchr(bytes.baseAddress! + start, 0, end - start) != nil {
                throw invalid("string holds a NUL byte", field: name, at: start)
            }
            estimate &+= (end - start) + 1 + ONNXWireScan.allocationOverhead
        case PROTOBUF_C_TYPE_BYTES:
            estimate &+= (end - start) + ONNXWireScan.allocationOverhead
        case PROTOBUF_C_TYPE_MESSAGE:
            let sub = field.pointee.descriptor.assumingMemoryBound(to: ProtobufCMessageDescriptor.self)
            path.append(name!)
            defer { path.removeLast() }
            try message(sub, from: start, to: end, graphs: graphs)
        default:
            break
        }
    }

    /// Checks a packed run of scalars and counts them.
    private func packedCount(naturalWire: Int, from start: Int, to end: Int,
                             field: UnsafePointer<CChar>?) throws -> Int {
        switch naturalWire {
        case 0:
            var position = start
            var count = 0
            while position < end {
                _ = try varint(&position, end: end, field: field)
                count += 1
            }
            return count
        default:
            let width = naturalWire == 1 ? 8 : 4
            guard (end - start) % width == 0 else {
                throw invalid("packed run of \(end - start) bytes is not a whole number of \(width)-byte values",
                              field: field, at: start)
            }
            return (end - start) / width
        }
    }

    /// Reads one varint ending before `end`.
    private func varint(_ position: inout Int, end: Int, field: UnsafePointer<CChar>?,
                        number: UInt64? = nil) throws -> UInt64 {
        let start = position
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while shift < 70 {
            guard position < end else {
                throw FormatError(.truncated(what: "varint", needed: position - start + 1, available: position - start),
                                  at: .fieldByte(pathText(field, number: number), start))
            }
            let byte = bytes[position]
            position += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return value }
            shift += 7
        }
        throw invalid("varint longer than 10 bytes", field: field, number: number, at: start)
    }

    private func invalid(_ detail: String, field: UnsafePointer<CChar>?, number: UInt64? = nil, at offset: Int) -> FormatError {
        FormatError(.invalidHeader(detail), at: .fieldByte(pathText(field, number: number), offset))
    }

    /// `graph.initializer.raw_data`; an undeclared field shows as its number (`graph.#14`).
    private func pathText(_ last: UnsafePointer<CChar>? = nil, number: UInt64? = nil) -> String {
        var parts = path.map { String(cString: $0) }
        if let last { parts.append(String(cString: last)) } else if let number { parts.append("#\(number)") }
        return parts.isEmpty ? "ModelProto" : parts.joined(separator: ".")
    }

    /// The wire type a field of this type uses unpacked, and the size of one element in protobuf-c's struct
    /// (a pointer for strings and messages, a `ProtobufCBinaryData` for bytes).
    private static func wireLayout(_ type: ProtobufCType) -> (wire: Int, size: Int) {
        switch type {
        case PROTOBUF_C_TYPE_INT32, PROTOBUF_C_TYPE_SINT32, PROTOBUF_C_TYPE_UINT32, PROTOBUF_C_TYPE_ENUM,
             PROTOBUF_C_TYPE_BOOL: (0, 4)
        case PROTOBUF_C_TYPE_INT64, PROTOBUF_C_TYPE_SINT64, PROTOBUF_C_TYPE_UINT64: (0, 8)
        case PROTOBUF_C_TYPE_FIXED32, PROTOBUF_C_TYPE_SFIXED32, PROTOBUF_C_TYPE_FLOAT: (5, 4)
        case PROTOBUF_C_TYPE_FIXED64, PROTOBUF_C_TYPE_SFIXED64, PROTOBUF_C_TYPE_DOUBLE: (1, 8)
        case PROTOBUF_C_TYPE_BYTES: (2, MemoryLayout<ProtobufCBinaryData>.size)
        default: (2, MemoryLayout<UnsafeRawPointer>.size)  // string, message
        }
    }

    private static func typeName(_ type: ProtobufCType) -> String {
        switch type {
        case PROTOBUF_C_TYPE_STRING: "string"
        case PROTOBUF_C_TYPE_BYTES: "bytes"
        case PROTOBUF_C_TYPE_MESSAGE: "message"
        case PROTOBUF_C_TYPE_FLOAT, PROTOBUF_C_TYPE_FIXED32, PROTOBUF_C_TYPE_SFIXED32: "32-bit fixed"
        case PROTOBUF_C_TYPE_DOUBLE, PROTOBUF_C_TYPE_FIXED64, PROTOBUF_C_TYPE_SFIXED64: "64-bit fixed"
        default: "varint"
        }
    }

}

/// The addresses of the generated descriptors, as protobuf-c's own structs point to them (a C global
/// imported into Swift is read by value, so its address is taken from an initialised message).
enum ONNXDescriptors {
    nonisolated(unsafe) static let model: UnsafePointer<ProtobufCMessageDescriptor> = {
        var message = Onnx__ModelProto()
        onnx__model_proto__init(&message)
        return message.base.descriptor
    }()
    nonisolated(unsafe) static let graph: UnsafePointer<ProtobufCMessageDescriptor> = {
        var message = Onnx__GraphProto()
        onnx__graph_proto__init(&message)
        return message.base.descriptor
    }()
}
