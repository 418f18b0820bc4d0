/// Per-token cosine and max |Δ| against a double reference, the accuracy measure.
public func closeness(_ output: [Float], _ reference: [Double], width: Int) -> (minCosine: Double, maxDelta: Double, maxReference: Double) {
    var minCosine = 1.0, maxDelta = 0.0, maxReference = 0.0
    for r in 0 ..< reference.count / width {
        var dot = 0.0, aa = 0.0, bb = 0.0
        for c in 0 ..< width {
            let a = Double(output[r * width + c]), b = reference[r * width + c]
            dot += a * b
            aa += a * a
            bb += b * b
            maxDelta = max(maxDelta, abs(a - b))
            maxReference = max(maxReference, abs(b))
        }
        let cosine = aa == 0 && bb == 0 ? 1 : dot / (aa.squareRoot() * bb.squareRoot())
        minCosine = min(minCosine, cosine)
    }
    return (minCosine, maxDelta, maxReference)
}
