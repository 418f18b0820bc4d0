/// How far output `b` is from output `a` (the reference), token by token and as a whole, with every sum
/// in double precision: identical outputs give a cosine of exactly 1 and errors of exactly 0.
///
/// Per token (a row of D_out values): cosine `a·b / (‖a‖‖b‖)` — 1 for two zero vectors, 0 for a zero and
/// a non-zero one — and relative L2 error `‖a−b‖/‖a‖` (0 when both are zero, infinite when only `a` is).
public struct Comparison: Sendable, Equatable {
    /// Every output bit agrees.
    public var identical: Bool
    public var tokens: Int
    public var minCosine: Double
    public var meanCosine: Double
    /// `‖a−b‖/‖a‖` over the whole output.
    public var relativeL2: Double
    public var maxAbsDifference: Double
    /// Where the largest |a−b| is, in the output's shape (`[b, t, d]` or `[t, d]`).
    public var maxAbsDifferenceAt: [Int]
    public var worstToken: WorstToken
    /// The cosine of every output token, in order (`[b, t]` flattened).
    public var tokenCosines: [Double]

    /// The token with the lowest cosine (the first of equals).
    public struct WorstToken: Sendable, Equatable {
        /// `[b, t]` or `[t]`.
        public var index: [Int]
        public var cosine: Double
        public var relativeL2: Double
        public var maxAbsDifference: Double
    }

    /// Compares two outputs of the same shape.
    public init(_ a: RunOutput, _ b: RunOutput) {
        precondition(a.shape == b.shape, "outputs of different shapes are compared by the caller's check")
        let width = a.width, rows = a.rows
        let pa = a.values.pointer, pb = b.values.pointer
        var identical = true
        var cosineSum = 0.0, minCosine = Double.infinity
        var worst = WorstToken(index: [], cosine: .infinity, relativeL2: 0, maxAbsDifference: 0)
        var totalDiff = 0.0, totalRef = 0.0
        var maxDiff = -1.0, maxAt = 0
        var cosines = [Double](repeating: 1, count: rows)
        for row in 0 ..< rows {
            var dot = 0.0, aa = 0.0, bb = 0.0, dd = 0.0, rowMax = 0.0
            var rowIdentical = true
            for column in 0 ..< width {
                let offset = row * width + column
                let x = pa[offset], y = pb[offset]
                if x.bitPattern != y.bitPattern { rowIdentical = false }
                let u = Double(x), v = Double(y), d = u - v
                dot += u * v
                aa += u * u
                bb += v * v
                dd += d * d
                let magnitude = d.isNaN ? Double.infinity : abs(d)
                if magnitude > maxDiff {
                    maxDiff = magnitude
                    maxAt = offset
                }
                rowMax = max(rowMax, magnitude)
            }
            if !rowIdentical { identical = false }
            let cosine: Double
            if rowIdentical || (aa == 0 && bb == 0) {
                cosine = 1
            } else if aa == 0 || bb == 0 {
                cosine = 0
            } else {
                // sqrt(aa·bb), not sqrt(aa)·sqrt(bb): for equal rows it is exactly aa.
                cosine = min(1, max(-1, dot / (aa * bb).squareRoot()))
            }
            // NaN (non-finite outputs) counts as the worst.
            let ranked = cosine.isNaN ? -Double.infinity : cosine
            cosineSum += cosine
            cosines[row] = cosine
            if ranked < minCosine {
                minCosine = ranked
                let index = a.batchAxis ? [row / a.tokens, row % a.tokens] : [row]
                worst = WorstToken(index: index, cosine: cosine, relativeL2: Comparison.relative(dd, aa), maxAbsDifference: rowMax)
            }
            totalDiff += dd
            totalRef += aa
        }
        self.identical = identical
        tokens = rows
        self.minCosine = rows > 0 ? worst.cosine : 1
        meanCosine = rows > 0 ? cosineSum / Double(rows) : 1
        relativeL2 = Comparison.relative(totalDiff, totalRef)
        maxAbsDifference = max(0, maxDiff)
        let d = maxAt % width, t = (maxAt / width) % a.tokens, image = maxAt / (width * a.tokens)
        maxAbsDifferenceAt = a.batchAxis ? [image, t, d] : [t, d]
        worstToken = worst
        tokenCosines = cosines
    }

    static func relative(_ differenceSquares: Double, _ referenceSquares: Double) -> Double {
        if differenceSquares == 0 { return 0 }
        if referenceSquares == 0 { return .infinity }
        return (differenceSquares / referenceSquares).squareRoot()
    }
}
