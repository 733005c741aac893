import Foundation

/// What one relay pass did.
public struct RelayReport: Sendable, Equatable {
    /// Due events published for the first time (or after a retry or parking delay).
    public var published = 0
    /// Queued events published again because the transport lost them or they waited too long.
    public var recovered = 0
    /// Events whose worker lease expired, moved back to `retry_scheduled`.
    public var sweptLeases = 0
    /// Missing dead-letter documents written.
    public var reconciledDeadLetters = 0

    public init() {}

    /// Whether the pass found anything to do.
    public var didWork: Bool { published + recovered + sweptLeases + reconciledDeadLetters > 0 }
}

/// One pass of the relay: publishes due inbox events to the stream and recovers whatever the stream lost.
///
/// Events are marked `queued` before they are published, so a worker never sees an entry whose event
/// is still `received`; a relay that dies in between leaves them `queued`, and recovery republishes
/// them once they are older than the recovery window. Safe with several relays running.
public struct RelayDueEvents: Sendable {
    private let outbox: any OutboxStore
    private let stream: any EventStream
    private let recoveryWindow: Duration
    private let batchSize: Int
    private let clock: any TimeSource

    /// Creates the use case.
    /// - Parameters:
    ///   - recoveryWindow: how long a queued event may go unclaimed before it is published again.
    ///   - batchSize: events per store query and per publication.
    public init(outbox: any OutboxStore, stream: any EventStream, recoveryWindow: Duration, batchSize: Int = 500, clock: any TimeSource = SystemTimeSource()) {
        self.outbox = outbox
        self.stream = stream
        self.recoveryWindow = recoveryWindow
        self.batchSize = batchSize
        self.clock = clock
    }

    /// Runs one pass.
    /// - Parameter recover: whether the pass also sweeps expired leases, reconciles dead letters and republishes
    ///   what the stream lost; without it, it only publishes due events.
    /// - Throws: ``StoreError`` or the stream's error; what was reserved but not published is released for recovery.
    public func runOnce(maximumBatches: Int = 20, recover: Bool = true) async throws -> RelayReport {
        var report = RelayReport()
        if recover {
            try await runRecovery(maximumBatches: maximumBatches, into: &report)
        }
        for _ in 0..<maximumBatches {
            let due = try await outbox.reserveDue(now: clock.now(), limit: batchSize)
            try await publish(due)
            report.published += due.count
            if due.count < batchSize { break }
        }
        return report
    }

    private func runRecovery(maximumBatches: Int, into report: inout RelayReport) async throws {
        let now = clock.now()
        report.sweptLeases = try await outbox.sweepExpiredLeases(now: now, limit: batchSize)
        report.reconciledDeadLetters = try await outbox.reconcileDeadLetters(limit: batchSize)

        // A transport that lost its contents lost every queued entry: recover them all now, not after the window.
        let staleBefore = try await stream.contentsWereLost() ? now : now.addingTimeInterval(-recoveryWindow.seconds)
        for _ in 0..<maximumBatches {
            let stale = try await outbox.reserveStale(queuedBefore: staleBefore, now: now, limit: batchSize)
            try await publish(stale)
            report.recovered += stale.count
            if stale.count < batchSize { break }
        }
    }

    private func publish(_ keys: [EventKey]) async throws {
        guard !keys.isEmpty else { return }
        do {
            try await stream.publish(keys)
        } catch {
            try? await outbox.releaseReservation(keys)
            throw error
        }
    }
}
