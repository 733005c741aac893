import Foundation
import GatewayCore
import Testing

/// Every transition of the lifecycle, legal and illegal, from every status: the one place the rules live
/// (`EventLifecycle`), which the stores only translate.
@Suite("Event lifecycle: every transition")
struct EventLifecycleTests {
    private let now = Date(timeIntervalSince1970: 1_800_000_000)
    private var earlier: Date { now.addingTimeInterval(-60) }
    private var later: Date { now.addingTimeInterval(60) }
    private let lease = Lease(owner: "worker-a", expiresAt: Date(timeIntervalSince1970: 1_800_000_030), recordId: "r", version: 4, token: "t-4")

    /// An event in `status`, due (or queued, or under a lease that expired) at `availableAt`.
    private func state(_ status: EventStatus, availableAt: Date, version: Int = 4, token: String = "t-4") -> EventState {
        EventState(
            status: status, availableAt: availableAt, queuedAt: status == .queued ? availableAt : nil, version: version,
            lease: status == .processing ? LeaseGrant(owner: "worker-a", expiresAt: availableAt, token: token) : nil)
    }

    /// The statuses from which `step` applies at `availableAt`, and where it leads.
    private func admitted(_ step: LifecycleStep, availableAt: Date) -> Set<EventStatus> {
        Set(EventStatus.allCases.filter { step.condition.holds(for: state($0, availableAt: availableAt)) })
    }

    @Test func theRelayReservesDueEventsOnly() {
        let step = EventLifecycle.reserve(EventLifecycle.due(at: now), token: "relay-1", now: now)
        #expect(admitted(step, availableAt: earlier) == [.received, .retryScheduled, .parked])
        #expect(admitted(step, availableAt: later).isEmpty)
        #expect(step.change.status == .queued)
        #expect(step.change.availableAt == now && step.change.queuedAt == now && step.change.relayToken == "relay-1")
    }

    @Test func recoveryReservesQueuedEventsOlderThanTheCutOffOnly() {
        let step = EventLifecycle.reserve(EventLifecycle.lost(queuedBefore: now), token: "relay-2", now: now)
        #expect(admitted(step, availableAt: earlier) == [.queued])
        #expect(admitted(step, availableAt: now).isEmpty, "queued at the cut-off itself is not lost")
        #expect(step.change.status == .queued)
    }

    @Test func aReleasedReservationIsDatedForImmediateRecovery() {
        let step = EventLifecycle.release(now: now)
        #expect(admitted(step, availableAt: later) == [.queued])
        #expect(step.change.availableAt == EventLifecycle.releasedAt && step.change.queuedAt == EventLifecycle.releasedAt)
        let released = step.change.applied(to: state(.queued, availableAt: later))
        #expect(EventLifecycle.lost(queuedBefore: now).holds(for: released))
    }

    @Test func aClaimFollowsTheClaimRule() {
        let grant = LeaseGrant(owner: "worker-b", expiresAt: later, token: "t-5")
        let step = EventLifecycle.claim(grant, now: now)
        #expect(admitted(step, availableAt: earlier) == [.received, .queued, .retryScheduled, .parked, .processing])
        #expect(admitted(step, availableAt: later) == [.received, .queued], "not yet due, or a lease still held")
        #expect(step.change.status == .processing)
        #expect(step.change.lease == grant && step.change.availableAt == later, "the lease's expiry is when the sweep looks")
        #expect(step.change.claimsAdded == 1 && step.change.claimsWithoutOutcomeAdded == 1)
    }

    @Test(arguments: [
        (Transition.complete(RoutingDecision(hub: "AMS-1", routeCode: "R", eta: Date(timeIntervalSince1970: 0))), EventStatus.processed, 1),
        (.retry(at: Date(timeIntervalSince1970: 1_800_000_100), error: "503", spendsAttempt: true), .retryScheduled, 1),
        (.retry(at: Date(timeIntervalSince1970: 1_800_000_100), error: "circuit_open", spendsAttempt: false), .retryScheduled, 0),
        (.park(until: Date(timeIntervalSince1970: 1_800_000_100), error: "unknown_shipment"), .parked, 0),
        (.deadLetter(.permanent, error: "422", spendsAttempt: true), .dead, 1),
    ])
    func anOutcomeLandsOnlyUnderTheClaimThatMadeIt(transition: Transition, status: EventStatus, attempts: Int) {
        let attempt = AttemptRecord(attempt: 1, startedAt: now, finishedAt: now, outcome: transition.outcome, error: nil, routingLatencyMs: 5)
        let step = EventLifecycle.record(transition, attempt: attempt, under: lease, now: now)
        #expect(admitted(step, availableAt: later) == [.processing])
        #expect(!step.condition.holds(for: state(.processing, availableAt: later, version: 5)), "another claim came in between")
        #expect(!step.condition.holds(for: state(.processing, availableAt: later, token: "t-other")), "a claim taken back by the store")
        #expect(step.change.status == status)
        #expect(step.change.attemptsSpent == attempts)
        #expect(step.change.claimsWithoutOutcomeAdded == -1, "an outcome ends its claim")
        #expect(step.change.removesLease)
        #expect(step.change.history == HistoryEntry(record: attempt, leaseToken: "t-4"))
        #expect(step.change.deadLetterPending == (status == .dead ? true : nil))
    }

    @Test func theSweepTakesBackExpiredLeasesOnly() {
        let expired = state(.processing, availableAt: earlier)
        let step = EventLifecycle.sweep(expired, attempts: 2, claimedAt: earlier, now: now)
        #expect(step.condition.holds(for: expired))
        #expect(!step.condition.holds(for: state(.processing, availableAt: later)), "the lease still holds")
        #expect(!step.condition.holds(for: state(.processing, availableAt: earlier, version: 5)), "changed since it was read")
        #expect(step.change.status == .retryScheduled && step.change.availableAt == now)
        #expect(step.change.attemptsSpent == 0 && step.change.claimsWithoutOutcomeAdded == 0, "the lost claim stays counted")
        #expect(step.change.history?.record.error == "lease_expired: worker-a did not finish")
        #expect(EventLifecycle.leaseExpired(at: now).statuses == [.processing])
    }

    /// The moves the steps make are exactly the legal ones: nothing leaves `processed` or `dead`, and no step takes an
    /// event anywhere `canMove` does not allow (building such a step stops the process).
    @Test func theStepsMakeExactlyTheLegalMoves() throws {
        let grant = LeaseGrant(owner: "w", expiresAt: later, token: "t")
        let attempt = AttemptRecord(attempt: 1, startedAt: now, finishedAt: now, outcome: .processed, error: nil, routingLatencyMs: nil)
        let steps: [LifecycleStep] =
            [
                EventLifecycle.reserve(EventLifecycle.due(at: now), token: "r", now: now),
                EventLifecycle.reserve(EventLifecycle.lost(queuedBefore: now), token: "r", now: now),
                EventLifecycle.release(now: now),
                EventLifecycle.claim(grant, now: now),
                EventLifecycle.sweep(state(.processing, availableAt: earlier), attempts: 0, claimedAt: nil, now: now),
                EventLifecycle.replay(try Replay(by: "ops", reason: "fixed"), version: 3, attempts: 8, now: now),
            ]
            + [
                Transition.complete(RoutingDecision(hub: "h", routeCode: "r", eta: now)), .retry(at: now, error: "e", spendsAttempt: true),
                .park(until: now, error: "e"), .deadLetter(.abandoned, error: "e", spendsAttempt: false),
            ].map { EventLifecycle.record($0, attempt: attempt, under: lease, now: now) }
        var moves: Set<String> = []
        for step in steps {
            for from in step.condition.statuses {
                #expect(from.canMove(to: step.change.status), "\(from) → \(step.change.status)")
                moves.insert("\(from.rawValue)→\(step.change.status.rawValue)")
            }
        }
        var legal: Set<String> = []
        for from in EventStatus.allCases {
            for to in EventStatus.allCases where from.canMove(to: to) { legal.insert("\(from.rawValue)→\(to.rawValue)") }
        }
        #expect(moves == legal)
        #expect(EventStatus.allCases.filter(\.isTerminal) == [.processed, .dead])
        // Out of a terminal state, only an operator's replay moves an event: dead → received.
        #expect(moves.filter { $0.hasPrefix("processed→") || $0.hasPrefix("dead→") } == ["dead→received"])
    }
}
