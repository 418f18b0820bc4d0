import CONNXProto
import CProtobufC
#if canImport(Glibc)
import Glibc
#endif

/// A `ModelProto` unpacked by protobuf-c, freed with it when the last tensor that borrows its memory
/// goes. protobuf-c copies `bytes` fields (`raw_data`) into its own allocations, so tensors embedded in
/// the model are read from here, zero-copy, and the model file's mapping can go once this exists.
final class ONNXModelMessage: @unchecked Sendable {
    let model: UnsafeMutablePointer<Onnx__ModelProto>

    /// Scans the model's bytes (ONNXWireScan) and unpacks them. While protobuf-c copies the embedded weights
    /// out of a file mapping, the pages it has read are let go every 64 MiB it allocates, so the peak is the
    /// copy plus 64 MiB of the file rather than both whole (re-reading a dropped page costs a page-cache hit).
    init(unpacking file: MappedFile) throws {
        model = try file.withBytes { bytes in
            try Self.unpack(bytes, releasing: file.descriptor >= 0 ? file : nil)
        }
    }

    /// Scans and unpacks bytes in memory (tests, packing round trips).
    init(unpacking bytes: UnsafeRawBufferPointer) throws {
        model = try Self.unpack(bytes, releasing: nil)
    }

    deinit {
        onnx__model_proto__free_unpacked(model, nil)
    }

    /// Every allocation protobuf-c makes while unpacking goes through here (then `malloc`, as its default
    /// allocator, so `free_unpacked` with the default frees them).
    private final class Releaser {
        static let interval = 64 << 20
        let file: MappedFile
        var allocated = 0
        init(_ file: MappedFile) { self.file = file }
    }

    private static func unpack(_ bytes: UnsafeRawBufferPointer, releasing file: MappedFile?)
        throws -> UnsafeMutablePointer<Onnx__ModelProto> {
        _ = try ONNXWireScan.scanModel(bytes)
        // An empty file is an empty message; protobuf-c wants a pointer all the same.
        var empty: UInt8 = 0
        let data = withUnsafePointer(to: &empty) { fallback in
            bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? fallback
        }
        let unpacked: UnsafeMutablePointer<Onnx__ModelProto>?
        if let file {
            let releaser = Releaser(file)
            var allocator = ProtobufCAllocator(alloc: { context, size in
                let releaser = Unmanaged<Releaser>.fromOpaque(context!).takeUnretainedValue()
                releaser.allocated += size
                if releaser.allocated >= Releaser.interval {
                    releaser.allocated = 0
                    // Only a file's pages: they come back from the file if protobuf-c reads them again.
                    releaser.file.release(offset: 0, count: releaser.file.size)
                }
                return malloc(size)
            }, free: { _, pointer in free(pointer) }, allocator_data: Unmanaged.passUnretained(releaser).toOpaque())
            unpacked = withExtendedLifetime(releaser) { onnx__model_proto__unpack(&allocator, bytes.count, data) }
        } else {
            unpacked = onnx__model_proto__unpack(nil, bytes.count, data)
        }
        guard let unpacked else {
            throw FormatError(.invalidHeader("protobuf-c could not unpack the ModelProto (out of memory?)"), at: .byte(0))
        }
        return unpacked
    }
}

/// Reading protobuf-c's C structs from Swift.
enum ONNXFields {
    /// A string field as Swift text; invalid UTF-8 is an error naming the field (the scanner already
    /// refused NUL bytes, so `strlen` is the field's length).
    static func text(_ pointer: UnsafePointer<CChar>?, field: @autoclosure () -> String) throws -> String {
        guard let pointer else { return "" }
        let raw = UnsafeRawBufferPointer(start: pointer, count: strlen(pointer))
        guard let text = String(validatingUTF8Bytes: raw) else {
            throw FormatError(.invalidUTF8(what: "a string"), at: .field(field()))
        }
        return text
    }

    /// `count` elements of a protobuf-c array (empty when the pointer is null).
    static func array<T>(_ pointer: UnsafeMutablePointer<T>?, _ count: Int) -> UnsafeBufferPointer<T> {
        UnsafeBufferPointer(start: pointer, count: pointer == nil ? 0 : count)
    }

    /// The messages of a repeated message field, skipping null entries (protobuf-c never makes them).
    static func messages<T>(_ pointer: UnsafeMutablePointer<UnsafeMutablePointer<T>?>?, _ count: Int)
        -> [UnsafeMutablePointer<T>] {
        array(pointer, count).compactMap { $0 }
    }
}

/// Writing messages with protobuf-c (`protobuf_c_message_pack_to_buffer`): the serialized bytes are handed
/// to `sink` chunk by chunk, `bytes` fields straight from the memory they point to, so a model whose
/// `raw_data` points into mapped checkpoints is written without a second copy in memory.
public enum ONNXPacking {
    /// Packs a message (any generated type, by its `base`) and streams it to `sink`. Returns the size.
    static func pack(_ message: UnsafePointer<ProtobufCMessage>,
                     to sink: @escaping (UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        // protobuf-c calls `append` on the `ProtobufCBuffer` it is given; the context rides right behind it.
        final class Context {
            let sink: (UnsafeRawBufferPointer) throws -> Void
            var error: Error?
            init(_ sink: @escaping (UnsafeRawBufferPointer) throws -> Void) { self.sink = sink }
        }
        let context = Context(sink)
        let stride = MemoryLayout<ProtobufCBuffer>.stride
        let storage = UnsafeMutableRawPointer.allocate(byteCount: stride + MemoryLayout<UnsafeRawPointer>.size,
                                                       alignment: MemoryLayout<UnsafeRawPointer>.alignment)
        defer { storage.deallocate() }
        let buffer = storage.bindMemory(to: ProtobufCBuffer.self, capacity: 1)
        buffer.initialize(to: ProtobufCBuffer(append: { buffer, count, data in
            guard let buffer else { return }
            let opaque = UnsafeRawPointer(buffer).load(fromByteOffset: MemoryLayout<ProtobufCBuffer>.stride,
                                                       as: UnsafeRawPointer.self)
            let context = Unmanaged<Context>.fromOpaque(opaque).takeUnretainedValue()
            guard context.error == nil else { return }
            do { try context.sink(UnsafeRawBufferPointer(start: data, count: count)) } catch { context.error = error }
        }))
        (storage + stride).storeBytes(of: UnsafeRawPointer(Unmanaged.passUnretained(context).toOpaque()),
                                      as: UnsafeRawPointer.self)
        let size = withExtendedLifetime(context) { protobuf_c_message_pack_to_buffer(message, buffer) }
        if let error = context.error { throw error }
        return size
    }

    /// Packs a message into memory (small messages: tests, headers).
    static func packedBytes(_ message: UnsafePointer<ProtobufCMessage>) -> [UInt8] {
        let size = protobuf_c_message_get_packed_size(message)
        if size == 0 { return [] }
        return [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            count = protobuf_c_message_pack(message, buffer.baseAddress!)
        }
    }
}
