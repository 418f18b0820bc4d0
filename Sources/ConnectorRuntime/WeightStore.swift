import TensorFormats

/// One parameter as a checkpoint stores it: its tensor (or the parts it was split into along the first
/// axis), and the storage to undo — transposed (a raw `x @ P` matrix), squeezed (size-1 axes dropped).
public struct StoredParameter: Sendable {
    public var role: String
    public var tensors: [Tensor]
    public var transposed: Bool
    /// The shape in the graph's canonical layout (`nn.Linear` weights `[out, in]`, size-1 axes kept).
    public var shape: [Int]

    public init(role: String, tensors: [Tensor], transposed: Bool = false, shape: [Int]) {
        self.role = role
        self.tensors = tensors
        self.transposed = transposed
        self.shape = shape
    }
}

/// The connector's parameters in float32 and canonical layout, keyed by instantiated role
/// (`layers.3.attn.q.weight`). Storage is canonicalised once, here: parts are concatenated, transposed
/// matrices transposed back, f16/bf16/f64 widened or rounded, block types dequantized; float32 data that
/// lies aligned in a mapped file is used in place. So the same weights in any naming scheme or container
/// give the same float32 values, and the same output bits.
public final class WeightStore: @unchecked Sendable {
    private var weights: [String: Weight] = [:]
    /// What keeps the memory behind `weights` alive: owned buffers and the mapped files read in place.
    private var owners: [AnyObject] = []
    /// Bytes of float32 weights the store holds (in place or owned).
    public private(set) var floatBytes = 0

    subscript(role: String) -> Weight? { weights[role] }

    public var roles: [String] { weights.keys.sorted() }

    /// Float32 values of a role (a copy), for tests and tools.
    public func values(_ role: String) -> [Float]? {
        weights[role].map { Array(UnsafeBufferPointer(start: $0.pointer, count: $0.count)) }
    }

    public init(_ parameters: [StoredParameter]) throws {
        var total = 0
        for parameter in parameters {
            guard let count = Checked.product(parameter.shape), let bytes = Checked.multiply(count, 4),
                  let sum = Checked.add(total, bytes) else {
                throw RuntimeError(.plan("the float32 weights overflow the address space (at \(parameter.role))"))
            }
            total = sum
        }
        try MemoryBudget.check(bytes: total, what: "the connector's float32 weights")
        for parameter in parameters { try load(parameter) }
    }

    /// Replaces one role's values (same shape): e.g. a weight quantized and read back.
    public func replacing(_ role: String, with values: [Float]) throws -> WeightStore {
        try replacing([role: values])
    }

    /// Replaces several roles' values (each with its own shape): the other roles are shared, not copied.
    public func replacing(_ replacements: [String: [Float]]) throws -> WeightStore {
        let copy = WeightStore(copying: self)
        for role in replacements.keys.sorted() {
            let values = replacements[role]!
            guard let old = weights[role] else { throw RuntimeError(.weight("no parameter \(role) in this connector")) }
            guard values.count == old.count else {
                throw RuntimeError(.weight("\(role) has \(old.count) values, the replacement \(values.count)"))
            }
            let buffer = FloatBuffer(values)
            copy.owners.append(buffer)
            copy.weights[role] = Weight(role: role, pointer: UnsafePointer(buffer.pointer), shape: old.shape)
        }
        return copy
    }

    private init(copying other: WeightStore) {
        weights = other.weights
        owners = other.owners
        floatBytes = other.floatBytes
    }

    private func load(_ parameter: StoredParameter) throws {
        let count = parameter.shape.reduce(1, *)
        let role = parameter.role
        var storedCount = 0
        for tensor in parameter.tensors {
            storedCount += tensor.info.elementCount
        }
        guard storedCount == count else {
            let names = parameter.tensors.map(\.name).joined(separator: " + ")
            throw RuntimeError(.weight("\(names) holds \(storedCount) values, the role \(role) needs \(parameter.shape)"))
        }
        floatBytes += count * 4
        // In place: one float32 tensor, verbatim and aligned in a mapped file.
        if parameter.tensors.count == 1, !parameter.transposed, let tensor = parameter.tensors.first, tensor.dtype == .f32,
           let pointer = FloatReader.mappedFloats(tensor) {
            owners.append(tensor.data.fileRegion!.file)
            weights[role] = Weight(role: role, pointer: pointer, shape: parameter.shape)
            return
        }
        let buffer = FloatBuffer(count: count)
        var offset = 0
        for tensor in parameter.tensors {
            try FloatReader.read(tensor, into: buffer.pointer + offset)
            offset += tensor.info.elementCount
        }
        if parameter.transposed {
            guard parameter.shape.count == 2 else {
                throw RuntimeError(.weight("\(role) is stored transposed but is not a matrix (\(parameter.shape))"))
            }
            let rows = parameter.shape[0], cols = parameter.shape[1]
            let canonical = FloatBuffer(count: count)
            // Stored [cols, rows]; canonical [rows, cols].
            for r in 0 ..< rows {
                for c in 0 ..< cols { canonical.pointer[r * cols + c] = buffer.pointer[c * rows + r] }
            }
            owners.append(canonical)
            weights[role] = Weight(role: role, pointer: UnsafePointer(canonical.pointer), shape: parameter.shape)
            return
        }
        owners.append(buffer)
        weights[role] = Weight(role: role, pointer: UnsafePointer(buffer.pointer), shape: parameter.shape)
    }
}

/// The runtime's access to stored values: float32 in place where a mapped file holds it verbatim,
/// else `Tensor.readFloats` (TensorFormats' one float32 reader: every float dtype widened or rounded,
/// every ggml block type dequantized as gguf-py does).
enum FloatReader {
    /// The tensor's float32 values in place in its mapped file, when it lies there verbatim and aligned.
    /// The pointer stays valid while the file's mapping lives (the store keeps the `MappedFile`).
    static func mappedFloats(_ tensor: Tensor) -> UnsafePointer<Float>? {
        guard tensor.dtype == .f32, let region = tensor.data.fileRegion, region.count == tensor.info.byteCount else { return nil }
        let address = try? region.file.withBytes(offset: region.offset, count: region.count) { $0.baseAddress }
        guard let address = address ?? nil, Int(bitPattern: address) % MemoryLayout<Float>.alignment == 0 else { return nil }
        return address.assumingMemoryBound(to: Float.self)
    }

    /// Decodes every element of `tensor` into `destination` (elementCount floats), letting go of the
    /// file's pages as it reads.
    static func read(_ tensor: Tensor, into destination: UnsafeMutablePointer<Float>) throws {
        guard tensor.dtype.readsAsFloat32 else {
            throw RuntimeError(.weight("\(tensor.name) is \(tensor.dtype.rawValue), which has no float32 reading"))
        }
        try tensor.readFloats(into: UnsafeMutableBufferPointer(start: destination, count: tensor.info.elementCount), threads: BLAS.threads)
    }
}
