import Testing
@testable import TensorFormats

/// The strided gather of `TorchTensorData` against a naive element-by-element reference, on views with
/// sizes that are not multiples of the copy tile, several dimensions, offsets, zero strides and every
/// element size; big-endian storages are swapped per element.
struct PyTorchViewTests {
    struct View: CustomTestStringConvertible, Sendable {
        let sizes: [Int]
        let strides: [Int]
        let offset: Int
        var testDescription: String { "sizes \(sizes) strides \(strides) offset \(offset)" }
    }

    static let views: [View] = [
        View(sizes: [37, 70], strides: [1, 37], offset: 0),            // transpose, partial tiles
        View(sizes: [70, 37], strides: [1, 70], offset: 3),
        View(sizes: [5, 33, 65], strides: [1, 5 * 65, 5], offset: 2),  // permuted 3-D
        View(sizes: [3, 40, 40], strides: [1600, 1, 40], offset: 0),   // batched transposes
        View(sizes: [100], strides: [3], offset: 7),                    // one strided dimension
        View(sizes: [9, 50], strides: [0, 1], offset: 1),               // expanded rows
        View(sizes: [50, 9], strides: [1, 0], offset: 0),               // expanded columns
        View(sizes: [4, 1, 6], strides: [6, 99, 1], offset: 0),         // size-1 dimension, any stride
        View(sizes: [12, 10], strides: [20, 2], offset: 1),             // sliced both ways
        View(sizes: [], strides: [], offset: 11),                       // 0-d
    ]

    private func reference(_ storage: [UInt8], _ view: View, elementSize: Int, swap: Bool) -> [UInt8] {
        var result: [UInt8] = []
        var index = [Int](repeating: 0, count: view.sizes.count)
        let count = view.sizes.reduce(1, *)
        for _ in 0 ..< count {
            var element = view.offset
            for (axis, position) in index.enumerated() { element += position * view.strides[axis] }
            let bytes = storage[element * elementSize ..< (element + 1) * elementSize]
            result += swap ? bytes.reversed() : Array(bytes)
            var axis = index.count - 1
            while axis >= 0 {
                index[axis] += 1
                if index[axis] < view.sizes[axis] { break }
                index[axis] = 0
                axis -= 1
            }
        }
        return result
    }

    @Test(arguments: views, [1, 2, 4, 8])
    func gatherMatchesTheNaiveReference(view: View, elementSize: Int) throws {
        let dtype: DType = [1: .u8, 2: .f16, 4: .f32, 8: .f64][elementSize]!
        var extent = view.offset
        for (size, stride) in zip(view.sizes, view.strides) { extent += (size - 1) * stride }
        let storage = (0 ..< (extent + 1) * elementSize).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
        let file = try storage.withUnsafeBytes { try MappedFile(copying: $0, path: "view.bin") }
        let arena = PickleArena()
        defer { arena.tearDown() }
        let ref = try TorchTensorRef(
            storage: try TorchStorageRef(persistentID: arena.tuple([
                .string("storage"), .global(.typedStorage(dtype.torchStorageClass!)), .string("0"), .string("cpu"),
                .int(Int64(extent + 1)),
            ]), legacy: false),
            dtype: dtype, elementSize: elementSize, storageOffset: view.offset, sizes: view.sizes, strides: view.strides)
        let count = view.sizes.reduce(1, *) * elementSize
        for bigEndian in [false, true] {
            let data = TorchTensorData(file: file, name: "view", storageStart: 0, storageBytes: storage.count, tensor: ref,
                                       byteCount: count, bigEndian: bigEndian)
            let gathered = try data.withBytes { Array($0) }
            #expect(gathered == reference(storage, view, elementSize: elementSize, swap: bigEndian))
        }
    }
}
