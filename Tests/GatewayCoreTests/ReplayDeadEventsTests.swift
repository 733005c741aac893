import Foundation
import GatewayCore
import GatewayTestSupport
import Testing

/// Redriving dead letters on the in-memory store: which events a selection takes, what a replay changes and what it
/// keeps, and why running it twice or at once replays each event once.
@Suite("ReplayDeadEvents, in memory")
struct ReplayDeadEventsTests {
    let clock = ManualTimeSource()
    let store = InMemoryEventStore()
    let operatorReplay = try! Replay(by: "ops-alice", reason: "routing fixed in INC-42")

    func plant(_ eventId: String, source: String = "courier", _ failureClass: FailureClass, error: String, diedSecondsAgo: Double = 60) throws
        -> EventKey
    {
        let key = EventKey(source: source, eventId: eventId)
        let body = #"{"type":"shipment.status_updated","shipmentId":"SHP-1","status":"in_transit","occurredAt":"2026-11-24T10:00:00Z"}"#
        let event = try NewEvent(key: key, body: Array(body.utf8), receivedAt: clock.now().addingTimeInterval(-3_600), encoder: store.payloadEncoder)
        store.plantDead(
            event, failureClass: failureClass, error: error, attempts: 5, deadAt: clock.now().addingTimeInterval(-diedSecondsAgo))
        return key
    }

    var replays: ReplayDeadEvents { ReplayDeadEvents(store: store, clock: clock) }

    @Test func aReplayedEventIsReceivedAgainWithAFreshBudgetItsHistoryAndAReplayedEntry() async throws {
        let key = try plant("e1", .retriesExhausted, error: "routing service answered 503")
        let before = try #require(store.event(key))

        let report = try await replays.run(.keys([key]), replay: operatorReplay, dryRun: false)

        #expect(report.replayed.map(\.key) == [key] && report.skipped.isEmpty)
        let after = try #require(store.event(key))
        #expect(after.state.status == .received && after.state.availableAt == clock.now())
        #expect(after.attempts == 0 && after.claimsWithoutOutcome == 0 && after.failureClass == nil && after.deadAt == nil)
        #expect(after.replayCount == 1)
        #expect(Array(after.history.dropLast()) == before.history)
        let entry = try #require(after.history.last?.record)
        #expect(entry.outcome == .replayed && entry.by == "ops-alice" && entry.reason == "routing fixed in INC-42" && entry.attempt == 5)
        #expect(store.replayMark(key)?.replay == operatorReplay && store.replayMark(key)?.at == clock.now())
    }

    @Test func aDryRunReportsTheSameSelectionAndChangesNothing() async throws {
        let keys = try [plant("a", .retriesExhausted, error: "x"), plant("b", .permanent, error: "y")]
        let before = keys.map(store.event)

        let dry = try await replays.run(.matching(DeadEventFilter()), replay: operatorReplay, dryRun: true)

        #expect(dry.dryRun && Set(dry.replayed.map(\.key)) == Set(keys))
        #expect(keys.map(store.event) == before)
        #expect(keys.allSatisfy { store.replayMark($0) == nil })
        let real = try await replays.run(.matching(DeadEventFilter()), replay: operatorReplay, dryRun: false)
        #expect(Set(real.replayed.map(\.key)) == Set(dry.replayed.map(\.key)))
    }

    @Test func runningAReplayTwiceReplaysOnceAndReportsWhyTheSecondSkipped() async throws {
        let key = try plant("e1", .permanent, error: "bad payload")
        _ = try await replays.run(.keys([key]), replay: operatorReplay, dryRun: false)

        let again = try await replays.run(.keys([key, key]), replay: operatorReplay, dryRun: false)

        #expect(again.replayed.isEmpty)
        #expect(again.skipped == [.init(key: key, reason: "not dead: it is received")])
        #expect(store.event(key)?.replayCount == 1)
        #expect(store.event(key)?.history.filter { $0.record.outcome == .replayed }.count == 1)
    }

    @Test func ofTwoReplaysThatReadTheSameDeadEventOnlyOneMovesIt() async throws {
        let key = try plant("e1", .permanent, error: "bad payload")
        let version = try #require(store.event(key)?.state.version)
        let step = EventLifecycle.replay(operatorReplay, version: version, attempts: 5, now: clock.now())

        #expect(try await store.apply(step, to: key))
        #expect(try await !store.apply(step, to: key), "the second replay read the same version: its compare-and-set fails")
        #expect(store.event(key)?.replayCount == 1)
    }

    @Test func aSelectionByClassSourceFingerprintOrTimeTakesOnlyWhatItNames() async throws {
        let recent503 = try plant("r1", .retriesExhausted, error: "routing service answered 503 after 2001 ms for SHP-000123", diedSecondsAgo: 10)
        let old503 = try plant("r2", .retriesExhausted, error: "routing service answered 503 after 1999 ms for SHP-000999", diedSecondsAgo: 7_200)
        let permanent = try plant("p1", .permanent, error: "routing service answered 422", diedSecondsAgo: 10)
        let otherSource = try plant("o1", source: "other", .permanent, error: "routing service answered 422", diedSecondsAgo: 10)
        let fingerprint = "routing service answered # after # ms for SHP-#"
        #expect(ErrorFingerprint.of("routing service answered 503 after 2001 ms for SHP-000123") == fingerprint)

        func selected(_ filter: DeadEventFilter) async throws -> Set<EventKey> {
            Set(try await replays.run(.matching(filter), replay: operatorReplay, dryRun: true).replayed.map(\.key))
        }
        #expect(try await selected(DeadEventFilter(failureClass: .retriesExhausted)) == [recent503, old503])
        #expect(try await selected(DeadEventFilter(fingerprint: fingerprint)) == [recent503, old503])
        #expect(try await selected(DeadEventFilter(since: clock.now().addingTimeInterval(-60))) == [recent503, permanent, otherSource])
        #expect(try await selected(DeadEventFilter(source: "other")) == [otherSource])
        #expect(try await selected(DeadEventFilter()) == [recent503, old503, permanent, otherSource])
    }

    @Test func keysThatAreAbsentOrNotDeadAreSkippedWithTheirReason() async throws {
        let dead = try plant("dead", .permanent, error: "x")
        let live = EventKey(source: "courier", eventId: "live")
        let body = #"{"type":"t","shipmentId":"SHP-1","occurredAt":"2026-11-24T10:00:00Z"}"#
        _ = try await store.insert(NewEvent(key: live, body: Array(body.utf8), receivedAt: clock.now(), encoder: store.payloadEncoder))
        let absent = EventKey(source: "courier", eventId: "absent")

        let report = try await replays.run(.keys([absent, live, dead]), replay: operatorReplay, dryRun: false)

        #expect(report.replayed.map(\.key) == [dead])
        #expect(report.skipped == [.init(key: absent, reason: "no such event"), .init(key: live, reason: "not dead: it is received")])
    }

    @Test func aReplayNeedsAReasonAWhoAndAtLeastOneKey() async throws {
        #expect(throws: ReplayError.self) { try Replay(by: "ops", reason: "  ") }
        #expect(throws: ReplayError.self) { try Replay(by: "", reason: "fixed") }
        await #expect(throws: ReplayError.self) { try await replays.run(.keys([]), replay: operatorReplay, dryRun: false) }
    }

    @Test func theLifecycleAllowsDeadToReceivedAndNoOtherWayOutOfATerminalState() {
        #expect(EventStatus.dead.canMove(to: .received))
        #expect(!EventStatus.dead.canMove(to: .processed) && !EventStatus.dead.canMove(to: .queued))
        #expect(!EventStatus.processed.canMove(to: .received))
    }
}
