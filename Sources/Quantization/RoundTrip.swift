import TensorFormats

extension QuantizePipeline {
    /// The values a file written with `action` would decode to for a tensor `info` whose float32 values are
    /// `values` — the same kernels and the same bytes as the written file, without a file: a candidate of a
    /// search quantized in memory. `importance` as `QuantizeRequest.importance`.
    public static func roundTrip(_ values: UnsafeBufferPointer<Float>, info: TensorInfo, action: QuantizationPolicy.Action,
                                 importance: [Float]? = nil, threads: Int = Parallel.processorCount) throws -> [Float] {
        guard values.count == info.elementCount else {
            throw QuantizationError(.sizeMismatch(expected: info.elementCount, found: values.count), tensor: info.name)
        }
        let n = values.count
        let rowLength = rowLength(info)
        var back = [Float](repeating: 0, count: n)
        do {
            switch action {
            case .copy:
                back = Array(values)
            case .float(let target):
                var encoded = [UInt8](repeating: 0, count: n * target.layout.blockBytes)
                encoded.withUnsafeMutableBytes { Cast.fromFloat32(values.baseAddress!, count: n, to: target, into: $0.baseAddress!) }
                encoded.withUnsafeBytes { bytes in
                    back.withUnsafeMutableBufferPointer { Cast.toFloat32(bytes.baseAddress!, target, count: n, into: $0.baseAddress!) }
                }
            case .ggml(let target):
                if let importance { try ImportanceWeights.check(importance, for: info, action: action) }
                var bytes = [UInt8](repeating: 0, count: n / target.layout.blockElements * target.layout.blockBytes)
                try bytes.withUnsafeMutableBytes {
                    try ImportanceWeights.quantize(values, rowLength: rowLength, as: target, importance: importance, into: $0, threads: threads)
                }
                try bytes.withUnsafeBytes { bytes in
                    try back.withUnsafeMutableBufferPointer { try GGMLBlocks.dequantize(target, bytes, into: $0, threads: threads) }
                }
            case .mlx(let bits, let groupSize):
                let parameterType = MLXAffine.parameterDType(for: info.dtype)
                let parameterBytes = n / groupSize * parameterType.layout.blockBytes
                var words = [UInt8](repeating: 0, count: n * bits / 8)
                var scales = [UInt8](repeating: 0, count: parameterBytes), biases = scales
                try words.withUnsafeMutableBytes { words in
                    try scales.withUnsafeMutableBytes { scales in
                        try biases.withUnsafeMutableBytes { biases in
                            try MLXAffine.quantize(values, rowLength: rowLength, groupSize: groupSize, bits: bits, parameterType: parameterType,
                                                   words: words, scales: scales, biases: biases, threads: threads)
                            try back.withUnsafeMutableBufferPointer {
                                try MLXAffine.dequantize(words: UnsafeRawBufferPointer(words), scales: UnsafeRawBufferPointer(scales),
                                                         biases: UnsafeRawBufferPointer(biases), parameterType: parameterType,
                                                         rowLength: rowLength, groupSize: groupSize, bits: bits, into: $0, threads: threads)
                            }
                        }
                    }
                }
            }
        } catch let error as QuantizationError {
            throw error.on(tensor: info.name)
        }
        return back
    }

    /// Bytes `action` writes for a tensor `info` (an MLX weight with its scales and biases), as the report
    /// counts them.
    public static func outputBytes(_ info: TensorInfo, action: QuantizationPolicy.Action) throws -> Int {
        switch action {
        case .copy:
            return info.byteCount
        case .float(let dtype), .ggml(let dtype):
            return try TensorInfo(name: info.name, dtype: dtype, shape: info.shape).byteCount
        case .mlx(let bits, let groupSize):
            let parameters = info.elementCount / groupSize * MLXAffine.parameterDType(for: info.dtype).layout.blockBytes
            return info.elementCount * bits / 8 + 2 * parameters
        }
    }
}
