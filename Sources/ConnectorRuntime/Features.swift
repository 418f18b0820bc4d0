#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TensorFormats

/// What the vision encoder emits for a batch of images: `[batch, tokens, width]` float32, row-major.
public struct Features: Sendable {
    public let values: FloatBuffer
    public let batch: Int
    public let tokens: Int
    public let width: Int
    /// The features came as `[B, T, D]` (the output keeps the batch axis) rather than `[T, D]`.
    public let batchAxis: Bool
    /// Where they came from, for messages (`features.npy: tensor 'x'`, `--random 576 --seed 0`).
    public let origin: String

    public init(values: FloatBuffer, batch: Int, tokens: Int, width: Int, batchAxis: Bool, origin: String) {
        self.values = values
        self.batch = batch
        self.tokens = tokens
        self.width = width
        self.batchAxis = batchAxis
        self.origin = origin
    }

    public var shape: [Int] { batchAxis ? [batch, tokens, width] : [tokens, width] }

    /// One image's features.
    func image(_ index: Int) -> UnsafePointer<Float> { UnsafePointer(values.pointer + index * tokens * width) }

    /// The one floating tensor of a file connkit reads (or the one named `tensorName`), shaped `[T, D]` or
    /// `[B, T, D]`, as float32. f32, f16, bf16 and f64 are read; NaN or infinity anywhere is refused,
    /// naming the first bad element.
    public static func read(path: String, tensorName: String? = nil) throws -> Features {
        let checkpoint = try CheckpointReader.open(path)
        let tensor: Tensor
        if let tensorName {
            guard let found = checkpoint.tensor(named: tensorName) else {
                throw RuntimeError(.badFeatures("no tensor '\(tensorName)' (the file holds \(listing(checkpoint.tensors)))"), file: path)
            }
            tensor = found
        } else {
            let floating = checkpoint.tensors.filter { [.f32, .f16, .bf16, .f64].contains($0.dtype) }
            guard floating.count == 1 else {
                throw RuntimeError(.badFeatures(floating.isEmpty
                    ? "no f32, f16, bf16 or f64 tensor (the file holds \(listing(checkpoint.tensors)))"
                    : "\(floating.count) floating tensors (\(listing(floating))): name one with --input-tensor"), file: path)
            }
            tensor = floating[0]
        }
        let origin = "\(path): tensor '\(tensor.name)'"
        guard [.f32, .f16, .bf16, .f64].contains(tensor.dtype) else {
            throw RuntimeError(.badFeatures("tensor '\(tensor.name)' is \(tensor.dtype.rawValue); features must be f32, f16, bf16 or f64"), file: path)
        }
        let shape = tensor.shape
        guard shape.count == 2 || shape.count == 3 else {
            throw RuntimeError(.badFeatures("tensor '\(tensor.name)' has shape \(shape); features are [T, D_enc] or [B, T, D_enc]"), file: path)
        }
        guard tensor.info.elementCount > 0 else {
            throw RuntimeError(.badFeatures("tensor '\(tensor.name)' is empty (shape \(shape))"), file: path)
        }
        try MemoryBudget.check(bytes: Checked.multiply(tensor.info.elementCount, 4) ?? Int.max, what: "the features in float32")
        let values = FloatBuffer(count: tensor.info.elementCount)
        try FloatReader.read(tensor, into: values.pointer)
        let features = Features(values: values, batch: shape.count == 3 ? shape[0] : 1, tokens: shape[shape.count - 2],
                                width: shape[shape.count - 1], batchAxis: shape.count == 3, origin: origin)
        if let bad = features.firstNonFinite() {
            throw RuntimeError(.nonFiniteFeature("tensor '\(tensor.name)' holds \(values.pointer[bad.offset]) at \(bad.index) (the first non-finite element)"), file: path)
        }
        return features
    }

    /// The first NaN or infinity: its flat offset and its index in the features' shape.
    func firstNonFinite() -> (offset: Int, index: [Int])? {
        for offset in 0 ..< values.count where !values.pointer[offset].isFinite {
            let d = offset % width, t = (offset / width) % tokens, b = offset / (width * tokens)
            return (offset, batchAxis ? [b, t, d] : [t, d])
        }
        return nil
    }

    /// `tokens × width` standard-normal values (B = 1), reproducible in numpy (see `RandomFeatures`).
    public static func random(tokens: Int, width: Int, seed: UInt64) throws -> Features {
        guard tokens > 0, width > 0 else { throw RuntimeError(.usage("--random needs a positive token count")) }
        guard let count = Checked.multiply(tokens, width), Checked.multiply(count, 8) != nil else {
            throw RuntimeError(.plan("\(tokens) random tokens of width \(width) overflow the address space"))
        }
        try MemoryBudget.check(bytes: count * 4, what: "\(tokens) random tokens of width \(width)")
        let values = FloatBuffer(count: count)
        RandomFeatures.fill(values.pointer, count: count, seed: seed)
        return Features(values: values, batch: 1, tokens: tokens, width: width, batchAxis: false,
                        origin: "--random \(tokens) --seed \(seed)")
    }

    private static func listing(_ tensors: [Tensor]) -> String {
        let names = tensors.prefix(4).map { "'\($0.name)' \($0.dtype.rawValue) \($0.shape)" }
        return tensors.isEmpty ? "no tensor" : names.joined(separator: ", ") + (tensors.count > 4 ? ", …" : "")
    }
}

/// Deterministic standard-normal features, the counter-based generator of the quantization fixtures:
/// word i of seed s is splitmix64's finaliser of `s + (i + 1) · 0x9E3779B97F4A7C15` (mod 2^64); element k
/// (row-major) takes words 2k and 2k+1, `u1 = ((w[2k] >> 11) + 1) · 2^-53` in (0, 1] and
/// `u2 = (w[2k+1] >> 11) · 2^-53`, and is `sqrt(-2 · ln u1) · cos((2π) · u2)` in double precision, rounded
/// to float32. In numpy (uint64 arithmetic wraps):
///
///     i = np.arange(2 * n, dtype=np.uint64)
///     z = np.uint64(seed) + (i + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15)
///     z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
///     z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
///     w = z ^ (z >> np.uint64(31))
///     u1 = ((w[0::2] >> np.uint64(11)) + np.uint64(1)) * 2.0**-53
///     u2 = (w[1::2] >> np.uint64(11)) * 2.0**-53
///     x = (np.sqrt(-2 * np.log(u1)) * np.cos(2 * np.pi * u2)).astype(np.float32).reshape(T, D)
public enum RandomFeatures {
    static func word(_ seed: UInt64, _ i: UInt64) -> UInt64 {
        var z = seed &+ (i &+ 1) &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public static func value(seed: UInt64, index k: Int) -> Float {
        let u1 = Double((word(seed, UInt64(2 * k)) >> 11) + 1) * 0x1p-53
        let u2 = Double(word(seed, UInt64(2 * k + 1)) >> 11) * 0x1p-53
        return Float((-2 * log(u1)).squareRoot() * cos((2 * Double.pi) * u2))
    }

    static func fill(_ values: UnsafeMutablePointer<Float>, count: Int, seed: UInt64) {
        let box = UncheckedSendable(values)
        Parallel.forEach(count, costPerItem: 32) { range in
            for k in range { box.value[k] = value(seed: seed, index: k) }
        }
    }
}
