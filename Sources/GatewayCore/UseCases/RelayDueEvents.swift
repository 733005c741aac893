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
    /// Documents a step could not handle; each is left out of that step for a backoff, then tried again.
    public var failures: [DocumentFailure] = []
    /// Recovery steps that failed as a whole, with the error; the pass went on without them.
    public var failedSteps: [RelayStep: String] = [:]
    /// Whether the pass stopped between two batches because it was asked to (graceful shutdown).
    public var stoppedEarly = false

    public init() {}

    /// Whether the pass moved any event.
    public var didWork: Bool { published + recovered + sweptLeases + reconciledDeadLetters > 0 }
}

/// One pass of the relay: publishes due inbox events to the stream and recovers whatever the stream lost.
///
/// Events are marked `queued` before they are published, so a worker never sees an entry whose event
/// is still `received`; a relay that dies in between leaves them `queued`, and recovery republishes
/// them once they are older than the recovery window. Safe with several relays running.
///
/// One bad document never stops the line: each recovery step fails alone (the pass goes on to the next and
/// always publishes due events), and within a step each document fails alone: it is reported, recorded with a
/// growing backoff (``failureBackoff``) during which the step leaves it out, and tried again afterwards.
public struct RelayDueEvents: Sendable {
    /// How long a document that failed a step is left out of it: 10 s after the first failure, doubling up to 10 min.
    public static let failureBackoff = RetryPolicy(base: .seconds(10), factor: 2, cap: .seconds(600), jitter: 0.2)

    private let outbox: any OutboxStore
    private let stream: any EventStream
    private let recoveryWindow: Duration
    private let batchSize: Int
    private let clock: any TimeSource
    private let random: any RandomSource

    /// Creates the use case.
    /// - Parameters:
    ///   - recoveryWindow: how long a queued event may go unclaimed before it is published again.
    ///   - batchSize: events per store query and per publication.
    public init(
        outbox: any OutboxStore, stream: any EventStream, recoveryWindow: Duration, batchSize: Int = 500,
        clock: any TimeSource = SystemTimeSource(), random: any RandomSource = SystemRandomSource()
    ) {
        self.outbox = outbox
        self.stream = stream
        self.recoveryWindow = recoveryWindow
        self.batchSize = batchSize
        self.clock = clock
        self.random = random
    }

    /// Runs one pass.
    /// - Parameters:
    ///   - maximumBatches: batches per publishing step.
    ///   - recover: whether the pass also sweeps expired leases, reconciles dead letters and republishes what the
    ///     stream lost; without it, it only publishes due events.
    ///   - shouldStop: asked between batches; once true, the pass ends after the batch in hand is published.
    /// - Throws: ``StoreError`` or the stream's error when due events cannot be published; what was reserved but not
    ///   published is released for recovery.
    public func runOnce(maximumBatches: Int = 20, recover: Bool = true, shouldStop: @Sendable () -> Bool = { false }) async throws -> RelayReport {
        var report = RelayReport()
        var skipping = try await outbox.documentsInBackoff(now: clock.now())
        if recover {
            await runStep(.sweepLeases, into: &report) { report in
                let result = try await outbox.sweepExpiredLeases(now: clock.now(), limit: batchSize, skipping: skipping[.sweepLeases] ?? [])
                report.sweptLeases = result.handled
                return result.failures
            }
            await runStep(.reconcileDeadLetters, into: &report) { report in
                let result = try await outbox.reconcileDeadLetters(limit: batchSize, skipping: skipping[.reconcileDeadLetters] ?? [])
                report.reconciledDeadLetters = result.handled
                return result.failures
            }
            await runStep(.recoverQueued, into: &report) { report in
                let batches = try await recoverQueued(maximumBatches: maximumBatches, skipping: &skipping, shouldStop: shouldStop)
                report.recovered = batches.published
                report.stoppedEarly = batches.stoppedEarly
                return batches.failures
            }
        }
        let due = try await publishBatches(.publishDue, maximumBatches: maximumBatches, skipping: &skipping, shouldStop: shouldStop) { skip in
            try await outbox.reserveDue(now: clock.now(), limit: batchSize, skipping: skip)
        }
        report.published = due.published
        report.stoppedEarly = report.stoppedEarly || due.stoppedEarly
        try await record(due.failures, into: &report)
        return report
    }

    /// Runs a recovery step; its failure, or its documents' failures, are reported and the pass goes on.
    private func runStep(
        _ step: RelayStep, into report: inout RelayReport, _ body: (inout RelayReport) async throws -> [DocumentFailure]
    ) async {
        do {
            let failures = try await body(&report)
            try await record(failures, into: &report)
        } catch {
            report.failedSteps[step] = "\(error)"
        }
    }

    /// Republishes queued events older than the recovery window, or, after the stream lost its contents, every event
    /// queued before the loss. The loss is recorded in the store first, so recovery resumes after a failed pass or a
    /// dead relay, whichever relay runs next, until it has drained everything queued before it.
    private func recoverQueued(
        maximumBatches: Int, skipping: inout [RelayStep: Set<String>], shouldStop: () -> Bool
    ) async throws -> PublishedBatches {
        let now = clock.now()
        var lossAt = try await outbox.unrecoveredStreamLoss(stream: stream.name)
        if try await stream.contentsWereLost() {
            try await outbox.recordStreamLoss(stream: stream.name, at: now)
            try await stream.acknowledgeLostContents()
            lossAt = now
        }
        let queuedBefore = max(now.addingTimeInterval(-recoveryWindow.seconds), lossAt ?? .distantPast)
        let batches = try await publishBatches(.recoverQueued, maximumBatches: maximumBatches, skipping: &skipping, shouldStop: shouldStop) { skip in
            try await outbox.reserveStale(queuedBefore: queuedBefore, now: now, limit: batchSize, skipping: skip)
        }
        if batches.drained, let lossAt { try await outbox.clearStreamLoss(stream: stream.name, recordedAt: lossAt) }
        return batches
    }

    /// What a run of reserve-and-publish batches did.
    private struct PublishedBatches {
        var published = 0
        var failures: [DocumentFailure] = []
        var stoppedEarly = false
        /// Whether the last batch came back short: nothing matching was left.
        var drained = false
    }

    /// Reserves and publishes batch after batch until one comes back short, `maximumBatches` were sent or
    /// `shouldStop` says so. A document that failed is left out of the batches after it.
    private func publishBatches(
        _ step: RelayStep, maximumBatches: Int, skipping: inout [RelayStep: Set<String>], shouldStop: () -> Bool,
        reserve: (Set<String>) async throws -> Reservation
    ) async throws -> PublishedBatches {
        var batches = PublishedBatches()
        for _ in 0..<maximumBatches {
            if shouldStop() {
                batches.stoppedEarly = true
                break
            }
            let reservation = try await reserve(skipping[step] ?? [])
            try await publish(reservation.keys)
            batches.published += reservation.keys.count
            batches.failures += reservation.failures
            skipping[step, default: []].formUnion(reservation.failures.map(\.recordId))
            if reservation.found < batchSize {
                batches.drained = true
                break
            }
        }
        return batches
    }

    private func publish(_ keys: [EventKey]) async throws {
        guard !keys.isEmpty else { return }
        do {
            try await stream.publish(keys)
        } catch {
            // Released even when the pass is being cancelled (shutdown past its grace period): a reservation left
            // behind would wait for the recovery window.
            let (outbox, now) = (self.outbox, clock.now())
            try? await Task { try await outbox.releaseReservation(keys, now: now) }.value
            throw error
        }
    }

    /// Reports failed documents and records them with their backoff.
    private func record(_ failures: [DocumentFailure], into report: inout RelayReport) async throws {
        guard !failures.isEmpty else { return }
        report.failures += failures
        let now = clock.now()
        let (backoff, random) = (Self.failureBackoff, self.random)
        try await outbox.recordFailures(failures, now: now) { failuresSoFar in
            now.addingTimeInterval(backoff.delay(afterAttempt: failuresSoFar, random: random).seconds)
        }
    }
}
