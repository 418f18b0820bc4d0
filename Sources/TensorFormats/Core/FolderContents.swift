#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a folder holds, for the error about a folder given where a checkpoint was expected: its tensor
/// files first (one of them is probably what was meant), then the rest, hidden entries left out.
enum FolderContents {
    /// Extensions of the files connkit reads.
    static let tensorExtensions: Set<String> = ["safetensors", "gguf", "npy", "npz", "bin", "pt", "pth", "onnx"]

    /// The names in `path` (sorted; folders end in `/`), or nil when it cannot be listed.
    static func names(in path: String) -> [String]? {
        guard let directory = opendir(path) else { return nil }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name.hasPrefix(".") { continue }
            let isFolder = CheckpointReader.isDirectory(path + "/" + name)
            names.append(isFolder ? name + "/" : name)
        }
        return names.sorted()
    }

    /// `it holds no files`, or `it holds 3 files: a.gguf (a file connkit reads: give it as the path), notes.txt, sub/`.
    static func summary(of path: String, shown: Int = 10) -> String {
        guard let names = names(in: path) else { return "it cannot be listed" }
        if names.isEmpty { return "it is empty" }
        let tensors = names.filter { tensorExtensions.contains(CheckpointReader.fileExtension($0)) && !$0.hasSuffix("/") }
        let others = names.filter { !tensors.contains($0) }
        var parts: [String] = []
        if !tensors.isEmpty {
            parts.append("tensor file\(tensors.count == 1 ? "" : "s") \(list(tensors, shown)) (give one as the path)")
        }
        if !others.isEmpty { parts.append(list(others, shown)) }
        return "it holds " + parts.joined(separator: "; and ")
    }

    private static func list(_ names: [String], _ shown: Int) -> String {
        names.prefix(shown).joined(separator: ", ") + (names.count > shown ? " and \(names.count - shown) more" : "")
    }
}
