/// The multiple-choice knapsack behind `--target-cosine`: one option per item (a type per tensor), the
/// smallest total size whose total cost (measured error) stays within a budget.
///
/// Exact dynamic programming over the budget cut into `units` equal parts: each option's cost is rounded
/// *up* to whole units, so an assignment the table accepts never exceeds the budget (it may miss one that
/// fits by less than a unit per item). O(items × units × options) time, items × units bytes of choices.
enum Knapsack {
    struct Option: Equatable {
        var bytes: Int
        var cost: Double
    }

    /// The option chosen for every item (indices into `options[i]`), or nil when no choice fits `budget`.
    /// Options with a non-finite or negative cost are never chosen; ties keep the lower index.
    static func solve(_ options: [[Option]], budget: Double, units: Int = 10_000) -> [Int]? {
        guard !options.isEmpty else { return [] }
        guard budget > 0, budget.isFinite else {
            // Only options without any error fit a zero budget.
            var chosen: [Int] = []
            for item in options {
                let exact = item.indices.filter { item[$0].cost == 0 }
                guard let best = exact.min(by: { item[$0].bytes < item[$1].bytes }) else { return nil }
                chosen.append(best)
            }
            return chosen
        }
        let unit = budget / Double(units)
        let impossible = Int.max
        var table = [Int](repeating: 0, count: units + 1)
        var choices: [[UInt8]] = []
        for item in options {
            let weights = item.map { option -> Int? in
                guard option.cost.isFinite, option.cost >= 0 else { return nil }
                let scaled = (option.cost / unit).rounded(.up)
                return scaled <= Double(units) ? Int(scaled) : nil
            }
            var next = [Int](repeating: impossible, count: units + 1)
            var choice = [UInt8](repeating: UInt8.max, count: units + 1)
            for (index, option) in item.enumerated() {
                guard let weight = weights[index] else { continue }
                for capacity in weight ... units {
                    let before = table[capacity - weight]
                    guard before != impossible else { continue }
                    let total = before + option.bytes
                    if total < next[capacity] {
                        next[capacity] = total
                        choice[capacity] = UInt8(index)
                    }
                }
            }
            table = next
            choices.append(choice)
        }
        guard table[units] != impossible else { return nil }
        // Walk back from the full budget.
        var capacity = units
        var chosen = [Int](repeating: 0, count: options.count)
        for item in stride(from: options.count - 1, through: 0, by: -1) {
            let index = Int(choices[item][capacity])
            chosen[item] = index
            let scaled = (options[item][index].cost / unit).rounded(.up)
            capacity -= Int(scaled)
        }
        return chosen
    }
}
