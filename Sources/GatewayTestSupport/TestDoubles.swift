public import Foundation
public import GatewayCore
import Synchronization

/// A wall clock that moves only when told to.
public final class ManualTimeSource: TimeSource {
    private let current: Mutex<Date>

    /// Starts at `start`.
    public init(_ start: Date = Date(timeIntervalSince1970: 1_800_000_000)) {
        current = Mutex(start)
    }

    public func now() -> Date { current.withLock { $0 } }

    /// Moves the clock forward.
    public func advance(by duration: Duration) {
        current.withLock { $0 = $0.addingTimeInterval(duration.seconds) }
    }
}

/// Random numbers read from a fixed list, repeating it; jitter becomes exact.
public final class FixedRandomSource: RandomSource {
    private let values: [Double]
    private let index = Mutex(0)

    /// Returns `values` in order, over and over.
    public init(_ values: [Double]) {
        self.values = values
    }

    public func nextUnit() -> Double {
        index.withLock { index in
            defer { index += 1 }
            return values[index % values.count]
        }
    }
}
