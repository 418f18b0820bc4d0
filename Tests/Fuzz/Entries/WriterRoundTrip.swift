import ConnectorGraph
import Quantization
import TensorFormats
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Takes an accepted checkpoint through every writer, as the commands do, into a scratch folder:
/// `convert` to safetensors, GGUF, npz (and npy for a single tensor), `convert --dtype f16`, `quantize`
/// to q8_0 (GGUF) and mlx-q4 (safetensors), and `validate` with its value scan.
///
/// A writer may refuse (a thrown `ConnkitError`); what it does write must be read back by connkit's own
/// reader with the same tensors (names compared as bytes, dtypes, shapes, and for a lossless conversion
/// the same bytes), and a refusal must leave neither the output nor a temporary file behind. Anything
/// else is a finding. (Traps and sanitizer reports are found by the fuzzer itself.)
public enum WriterRoundTrip {
    /// Checkpoints with more tensor bytes than this are only read: 4 MiB for the replay test (every file of
    /// the corpora but the largest runtime fixtures); the libFuzzer binaries lower it to 256 KiB
    /// (`LLVMFuzzerInitialize`), since each input taken through the writers is written nine times under
    /// AddressSanitizer and the mutations that matter are of the many small files.
    public nonisolated(unsafe) static var maxBytes = 4 << 20

    public static func check(_ checkpoint: Checkpoint) -> [String] {
        guard checkpoint.totalBytes <= maxBytes else { return [] }
        return FuzzFiles.withFolder("writers") { folder in check(checkpoint, in: folder) }
    }

    private static func check(_ checkpoint: Checkpoint, in folder: String) -> [String] {
        var findings: [String] = []
        for target in ["out.safetensors", "out.gguf", "out.npz"] + (checkpoint.tensors.count == 1 ? ["out.npy"] : []) {
            findings += attempt("convert to \(target)", folder, target) { path in
                _ = try Converter.convert(checkpoint, to: path, options: ConversionOptions())
            } readBack: { back in
                sameTensors(back, checkpoint, lossless: true, npyName: target == "out.npy")
            }
        }
        for target in ["out.safetensors", "out.gguf"] {
            var options = ConversionOptions()
            options.dtype = .f16
            findings += attempt("convert --dtype f16 to \(target)", folder, target) { path in
                _ = try Converter.convert(checkpoint, to: path, options: options)
            } readBack: { back in
                sameTensors(back, checkpoint, lossless: false, npyName: false)
            }
        }
        for (type, target) in [(QuantizationType.ggml(.q8_0), "out.gguf"), (.mlx(bits: 4), "out.safetensors")] {
            var request = QuantizeRequest(type: type)
            request.threads = 2
            findings += attempt("quantize \(type.name) to \(target)", folder, target) { path in
                _ = try QuantizePipeline.run(checkpoint, to: path, request: request, overwrite: false)
            } readBack: { back in
                Touch.all(back)
                return []
            }
        }
        _ = Validator.validate(ValidationRequest(checkpoint: checkpoint, checkValues: true))
        return findings
    }

    /// Runs one write into `folder/name`; checks the outcome and empties the folder for the next.
    private static func attempt(_ what: String, _ folder: String, _ name: String, write: (String) throws -> Void,
                                readBack: (Checkpoint) -> [String]) -> [String] {
        let path = folder + "/" + name
        var findings: [String] = []
        var wrote = false
        do {
            try write(path)
            wrote = true
        } catch is ConnkitError {
            // A refusal: nothing may be left.
            if access(path, F_OK) == 0 { findings.append("\(what): refused, but the output exists") }
        } catch {
            findings.append("\(what): threw a \(type(of: error)) that is not a ConnkitError: \(error)")
        }
        if wrote {
            do {
                let back = try CheckpointReader.open(path)
                findings += readBack(back).map { "\(what): \($0)" }
            } catch {
                findings.append("\(what): connkit's reader refuses what its writer wrote: \(error)")
            }
        }
        let leftovers = FuzzFiles.list(folder).filter { $0.hasPrefix(".") }
        if !leftovers.isEmpty { findings.append("\(what): temporary files left: \(leftovers)") }
        for name in FuzzFiles.list(folder) { unlink(folder + "/" + name) }
        return findings
    }

    /// The read-back tensors against the written ones: the same names (as bytes), dtypes (cast floats
    /// aside) and shapes (a GGUF scalar reads back as `[1]`), and for a lossless write the same bytes.
    static func sameTensors(_ back: Checkpoint, _ original: Checkpoint, lossless: Bool, npyName: Bool) -> [String] {
        var byName: [ExactName: Tensor] = [:]
        for tensor in back.tensors { byName[ExactName(tensor.name)] = tensor }
        guard back.tensors.count == original.tensors.count else {
            return ["\(original.tensors.count) tensors written, \(back.tensors.count) read back"]
        }
        var findings: [String] = []
        for tensor in original.tensors {
            guard let read = npyName ? back.tensors.first : byName[ExactName(tensor.name)] else {
                findings.append("tensor '\(tensor.name)' is missing from the read-back file")
                continue
            }
            let scalarInGGUF = back.format == .gguf && tensor.shape.isEmpty && read.shape == [1]
            if read.shape != tensor.shape && !scalarInGGUF {
                findings.append("tensor '\(tensor.name)': shape \(tensor.shape) read back as \(read.shape)")
            }
            if lossless {
                if read.dtype != tensor.dtype {
                    findings.append("tensor '\(tensor.name)': \(tensor.dtype.rawValue) read back as \(read.dtype.rawValue)")
                }
                let a = try? tensor.withBytes { Array($0) }
                let b = try? read.withBytes { Array($0) }
                if a != b { findings.append("tensor '\(tensor.name)': its bytes changed") }
            } else {
                Touch.sink &+= (try? read.withBytes { $0.reduce(0, &+) }) ?? 0
            }
        }
        return findings
    }
}
