import Foundation
import GatewayAdapters
import GatewayCore
import GatewayIntegrationSupport
import GatewayTestSupport
import Testing

/// Concurrent claims are grouped into batches with one update per kind of claimable state, and concurrent
/// outcomes into one `update` command; these pin the claim rule, the one-holder guarantee and the lease fence
/// to what the store does with such batches.
@Suite("Grouped claims and outcomes against the real store")
struct GroupedWritesTests {
    private let lease = Duration.seconds(30)

    /// A whole second after now, so that the store's millisecond dates compare as written.
    private var start: Date { Date(timeIntervalSince1970: (Date().timeIntervalSince1970 + 1).rounded(.down)) }

    private func store(_ eventIds: [String], in resources: GatewayResources) async throws -> [EventKey] {
        let inbox = MongoInboxStore(pool: resources.mongo)
        let keys = eventIds.map { EventKey(source: Fixtures.source, eventId: $0) }
        for key in keys {
            _ = try await inbox.insert(NewEvent(key: key, body: Array(Fixtures.body().utf8), receivedAt: Date(), encoder: inbox.payloadEncoder))
        }
        return keys
    }

    /// Claims every key at once from `repository`, so that the claims share batches; nil where not claimed.
    private func claimAtOnce(_ keys: [EventKey], from repository: MongoWorkerStore, worker: String, now: Date) async throws -> [ClaimedEvent?] {
        try await withThrowingTaskGroup(of: (Int, ClaimedEvent?).self) { group in
            for (index, key) in keys.enumerated() {
                group.addTask { (index, try await repository.claim(key, worker: worker, leaseDuration: lease, now: now)) }
            }
            var claimed = [ClaimedEvent?](repeating: nil, count: keys.count)
            for try await (index, event) in group { claimed[index] = event }
            return claimed
        }
    }

    @Test func twoWorkersClaimingTheSameEventsAtOnceGetEachEventOnce() async throws {
        try await TestServices.withMigratedDatabase("claims") { resources in
            let keys = try await store((1...40).map { "contested-\($0)" }, in: resources)
            let now = start
            // Worker a's stream also announced every event twice, as a republication does.
            async let byA = claimAtOnce(keys + keys, from: MongoWorkerStore(pool: resources.mongo), worker: "worker-a", now: now)
            async let byB = claimAtOnce(keys, from: MongoWorkerStore(pool: resources.mongo), worker: "worker-b", now: now)
            let claimed = try await (byA + byB).compactMap { $0 }

            #expect(claimed.count == keys.count)
            #expect(Set(claimed.map(\.key)) == Set(keys))
            let audit = MongoAuditQueries(pool: resources.mongo)
            for event in claimed {
                let stored = try #require(try await audit.event(event.key))
                #expect(stored["status"] == .string("processing"))
                #expect(stored[path: "lease.owner"]?.stringValue == event.lease.owner)
                #expect(stored[path: "lease.token"]?.stringValue == event.lease.token)
                #expect(stored["version"]?.intValue == event.lease.version)
                #expect(event.claimsWithoutOutcome == 0)
            }
        }
    }

    @Test func aBatchClaimsOnlyTheEventsTheClaimRuleAllows() async throws {
        try await TestServices.withMigratedDatabase("claims") { resources in
            let events = MongoWorkerStore(pool: resources.mongo)
            let keys = try await store(["received", "retry-due", "retry-later", "lease-held", "lease-expired", "processed"], in: resources)
            let (received, retryDue, retryLater, leaseHeld, leaseExpired, processed) = (keys[0], keys[1], keys[2], keys[3], keys[4], keys[5])
            let t0 = start
            let later = t0.addingTimeInterval(60)
            func claimed(_ key: EventKey, for duration: Duration = .seconds(30)) async throws -> ClaimedEvent {
                try #require(try await events.claim(key, worker: "worker-a", leaseDuration: duration, now: t0))
            }
            func record(_ transition: Transition, for event: ClaimedEvent) async throws {
                let attempt = AttemptRecord(attempt: 1, startedAt: t0, finishedAt: t0, outcome: .retry, error: nil, routingLatencyMs: 1)
                #expect(try await events.record(transition, attempt: attempt, for: event, now: t0))
            }
            try await record(.retry(at: later.addingTimeInterval(-1), error: "timeout", spendsAttempt: true), for: claimed(retryDue))
            try await record(.retry(at: later.addingTimeInterval(1), error: "timeout", spendsAttempt: true), for: claimed(retryLater))
            _ = try await claimed(leaseHeld, for: .seconds(120))
            _ = try await claimed(leaseExpired, for: .seconds(30))
            try await record(.complete(RoutingDecision(hub: "AMS-1", routeCode: "R1", eta: t0)), for: claimed(processed))

            let missing = EventKey(source: Fixtures.source, eventId: "never-stored")
            let results = try await claimAtOnce(keys + [missing], from: MongoWorkerStore(pool: resources.mongo), worker: "worker-b", now: later)
            let byKey = Dictionary(uniqueKeysWithValues: zip(keys + [missing], results).compactMap { key, event in event.map { (key, $0) } })

            #expect(Set(byKey.keys) == [received, retryDue, leaseExpired])
            #expect(byKey[retryDue]?.attempts == 1)
            #expect(byKey[leaseExpired]?.claimsWithoutOutcome == 1)
            #expect(byKey[received]?.lease.expiresAt == later.addingTimeInterval(30))
            let audit = MongoAuditQueries(pool: resources.mongo)
            #expect(try await audit.event(retryLater)?["status"] == .string("retry_scheduled"))
            #expect(try await audit.event(leaseHeld)?[path: "lease.owner"] == .string("worker-a"))
            #expect(try await audit.event(processed)?["status"] == .string("processed"))
        }
    }

    @Test func outcomesWrittenTogetherLandOnlyUnderTheLeaseTheyWereClaimedWith() async throws {
        try await TestServices.withMigratedDatabase("outcomes") { resources in
            let keys = try await store((1...12).map { "outcome-\($0)" }, in: resources)
            let events = MongoWorkerStore(pool: resources.mongo)
            let t0 = start
            let claimedByA = try await claimAtOnce(keys, from: events, worker: "worker-a", now: t0).map { try #require($0) }
            // Worker a stalled past its lease on the last four: worker b took them over.
            let takenOver = Array(claimedByA.suffix(4))
            let afterExpiry = t0.addingTimeInterval(31)
            #expect(try await claimAtOnce(takenOver.map(\.key), from: events, worker: "worker-b", now: afterExpiry).allSatisfy { $0 != nil })

            let decision = RoutingDecision(hub: "AMS-1", routeCode: "R1", eta: t0)
            let landed = try await withThrowingTaskGroup(of: (EventKey, Bool).self) { group in
                for (index, event) in claimedByA.enumerated() {
                    // The first event is dead-lettered, to show a grouped dead outcome still writes its dead letter.
                    let transition: Transition =
                        index == 0 ? .deadLetter(.permanent, error: "routing service answered 422", spendsAttempt: true) : .complete(decision)
                    let attempt = AttemptRecord(
                        attempt: 1, startedAt: t0, finishedAt: afterExpiry, outcome: index == 0 ? .dead : .processed, error: nil,
                        routingLatencyMs: 2_000)
                    group.addTask { (event.key, try await events.record(transition, attempt: attempt, for: event, now: afterExpiry)) }
                }
                return try await group.reduce(into: [EventKey: Bool]()) { $0[$1.0] = $1.1 }
            }

            let lost = Set(takenOver.map(\.key))
            #expect(landed.count == keys.count)
            #expect(Set(landed.filter { !$0.value }.keys) == lost)
            let audit = MongoAuditQueries(pool: resources.mongo)
            for event in claimedByA {
                let stored = try #require(try await audit.event(event.key))
                if lost.contains(event.key) {
                    #expect(stored["status"] == .string("processing"))
                    #expect(stored[path: "lease.owner"] == .string("worker-b"))
                    #expect(stored["history"]?.arrayValue?.isEmpty == true)
                } else {
                    #expect(stored["lease"] == nil)
                    #expect(stored["history"]?.arrayValue?.last?.documentValue?["leaseToken"] == .string(event.lease.token))
                }
            }
            #expect(try await audit.event(claimedByA[0].key)?["status"] == .string("dead"))
            #expect(try await audit.event(claimedByA[1].key)?["status"] == .string("processed"))
            let deadLetters = try await MongoAuditQueries(pool: resources.mongo).deadLetters()
            #expect(deadLetters.map { $0["eventId"] } == [.string(claimedByA[0].key.eventId)])
            #expect(deadLetters.first?["failureClass"] == .string("permanent"))
        }
    }

    /// Parking and breaker deferrals end in an outcome every time: however often they repeat, they must never make
    /// an event look abandoned. Only a claim whose worker vanished (its lease swept) counts.
    @Test func onlyClaimsEndingWithoutAnOutcomeCountTowardsAbandonment() async throws {
        try await TestServices.withMigratedDatabase("deferrals") { resources in
            let events = MongoWorkerStore(pool: resources.mongo)
            let keys = try await store(["parked-often", "crashed-on"], in: resources)
            var now = start
            let attempt = AttemptRecord(attempt: 0, startedAt: now, finishedAt: now, outcome: .parked, error: nil, routingLatencyMs: nil)
            let limit = ProcessingPolicy().maxClaimsWithoutOutcome
            for _ in 0...limit {
                let claimed = try #require(try await events.claim(keys[0], worker: "worker-a", leaseDuration: lease, now: now))
                #expect(claimed.claimsWithoutOutcome == 0)
                let deferral: Transition =
                    claimed.lease.version % 2 == 0
                    ? .park(until: now, error: "unknown_shipment: SHP-000123") : .retry(at: now, error: "circuit_open", spendsAttempt: false)
                #expect(try await events.record(deferral, attempt: attempt, for: claimed, now: now))
                now = now.addingTimeInterval(1)
            }

            for crash in 1...2 {
                _ = try #require(try await events.claim(keys[1], worker: "worker-a", leaseDuration: lease, now: now))
                now = now.addingTimeInterval(31)
                #expect(try await MongoOutboxStore(pool: resources.mongo).sweepExpiredLeases(now: now, limit: 10, skipping: []).handled == 1)
                let reclaimed = try #require(try await events.claim(keys[1], worker: "worker-b", leaseDuration: lease, now: now))
                #expect(reclaimed.claimsWithoutOutcome == 2 * crash - 1)
                now = now.addingTimeInterval(31)
                #expect(try await MongoOutboxStore(pool: resources.mongo).sweepExpiredLeases(now: now, limit: 10, skipping: []).handled == 1)
            }
        }
    }
}
