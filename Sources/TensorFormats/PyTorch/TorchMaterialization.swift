/// Caps, per checkpoint, the bytes PyTorch views materialise beyond the storage bytes they cover.
///
/// A view is read in row-major order, so it yields `elements × element size` bytes however few storage bytes
/// it reaches: 100 stride-0 (`expand`) views of one 64-byte storage in a 15 KB file list 100 GiB, and a
/// conversion would write all of it. Tied weights (two names for one view) and overlapping views do the same
/// on a smaller scale. For each file this charges
///
///     excess = Σ bytes of the views − covered,
///     covered = min(|∪ byte ranges the views span|, Σ min(bytes of a view, bytes it spans)),
///
/// i.e. what the views yield beyond the distinct storage bytes they can cover (a strided view spans more
/// bytes than it reads, so `covered` is an upper bound on those and `excess` a lower bound on the true
/// repetition). Since `Σ bytes = excess + covered` and `covered` is at most the file's storage bytes, all
/// tensors of a checkpoint together yield at most the limit plus the storage bytes in its files, whatever
/// their strides. The excess of every file of a checkpoint (shards included) is summed and refused above
/// `ReadOptions.maxMaterializedBytes` (default 4 GiB, `--max-materialize`), naming the largest view that
/// repeats bytes. Ordinary checkpoints have no excess; tied embeddings add one copy.
final class TorchMaterialization {
    let limit: Int
    /// Excess charged so far by the files read with this budget.
    private(set) var excess = 0

    init(limit: Int) {
        self.limit = max(0, limit)
    }

    /// What one view contributes: where its bytes lie in the file, how many it spans, how many it yields.
    struct View {
        let name: String
        let start: Int
        let span: Int
        let bytes: Int
    }

    /// Charges one file's views; throws `.limitExceeded` when the checkpoint's total passes the limit.
    func charge(_ views: [View]) throws {
        var yielded = 0
        var perView = 0
        for view in views {
            yielded = Checked.add(yielded, view.bytes) ?? Int.max
            perView = Checked.add(perView, min(view.bytes, view.span)) ?? Int.max
        }
        let (union, repeating) = TorchMaterialization.coverage(views)
        let covered = min(union, perView)
        let fileExcess = yielded - covered
        guard fileExcess > 0 else { return }
        excess = Checked.add(excess, fileExcess) ?? Int.max
        guard excess > limit else { return }
        let worst = repeating.max { ($0.bytes, $1.name.utf8.count) < ($1.bytes, $0.name.utf8.count) }
        let others = excess == fileExcess ? "" : " (with the checkpoint's other files)"
        throw FormatError(.limitExceeded(
            what: "bytes that the views would materialise beyond the \(covered) storage bytes they cover\(others) "
                + "(\(repeating.count) view\(repeating.count == 1 ? " repeats" : "s repeat") storage bytes: "
                + "expanded/stride-0, overlapping or tied):",
            value: String(excess),
            limit: "\(limit) bytes; raise it with --max-materialize SIZE"),
            at: worst.map { .tensor($0.name) })
    }

    /// The bytes covered by the union of the views' spans, and the views that repeat bytes: those that yield
    /// more than they span, or whose span overlaps another view's.
    static func coverage(_ views: [View]) -> (union: Int, repeating: [View]) {
        let spans = views.indices.filter { views[$0].span > 0 }.sorted { views[$0].start < views[$1].start }
        var repeating = Set(views.indices.filter { views[$0].bytes > views[$0].span })
        var union = 0
        var current: (start: Int, end: Int, owner: Int)?
        for index in spans {
            let view = views[index]
            let end = view.start + view.span  // inside the file: validated against its storage
            if let open = current, view.start < open.end {
                repeating.insert(index)
                repeating.insert(open.owner)
                if end > open.end { current = (open.start, end, index) }
            } else {
                if let open = current { union += open.end - open.start }
                current = (view.start, end, index)
            }
        }
        if let open = current { union += open.end - open.start }
        return (union, repeating.sorted().map { views[$0] })
    }
}
