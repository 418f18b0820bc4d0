#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Wall-clock laps (the monotonic clock).
public struct Stopwatch: Sendable {
    private var last = Stopwatch.now()

    public init() {}

    public static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
    }

    /// Seconds since the previous lap (or the start).
    public mutating func lap() -> Double {
        let now = Stopwatch.now()
        defer { last = now }
        return now - last
    }
}
