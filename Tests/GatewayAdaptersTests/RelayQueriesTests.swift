import Foundation
import GatewayCore
import GatewayIntegrationSupport
import GatewayTestSupport
import Testing

@testable import GatewayAdapters

/// The relay's recovery and lease sweep share one `{status, availableAt}` index with publication, so
/// `availableAt` carries a different time per state; these pin each query to the time it must honour.
@Suite("The relay's queries against the real store")
struct RelayQueriesTests {
    private let key = EventKey(source: Fixtures.source, eventId: "relay-1")

    /// Stores one event and returns a time after its arrival, on a whole second so that the store's
    /// millisecond dates compare as written.
    private func storeOneEvent(in inbox: MongoInboxStore) async throws -> Date {
        _ = try await inbox.insert(NewEvent(key: key, body: Array(Fixtures.body().utf8), receivedAt: Date(), encoder: inbox.payloadEncoder))
        return Date(timeIntervalSince1970: (Date().timeIntervalSince1970 + 1).rounded(.down))
    }

    @Test func aQueuedEventIsRecoveredOnceOlderThanTheCutOffOrAtOnceWhenReleased() async throws {
        try await TestServices.withMigratedDatabase("relay") { resources in
            let outbox = MongoOutboxStore(pool: resources.mongo)
            let queuedAt = try await storeOneEvent(in: MongoInboxStore(pool: resources.mongo))
            #expect(try await outbox.reserveDue(now: queuedAt, limit: 10, skipping: []).keys == [key])
            #expect(try await outbox.reserveDue(now: queuedAt.addingTimeInterval(60), limit: 10, skipping: []).keys.isEmpty)
            #expect(try await outbox.reserveStale(queuedBefore: queuedAt, now: queuedAt, limit: 10, skipping: []).keys.isEmpty)

            let later = queuedAt.addingTimeInterval(60)
            #expect(try await outbox.reserveStale(queuedBefore: later, now: later, limit: 10, skipping: []).keys == [key])
            // Recovery queued it again at `later`: a cut-off before that no longer finds it...
            #expect(try await outbox.reserveStale(queuedBefore: later, now: later, limit: 10, skipping: []).keys.isEmpty)
            // ...unless its publication failed and the reservation was released.
            try await outbox.releaseReservation([key], now: later)
            #expect(try await outbox.reserveStale(queuedBefore: queuedAt, now: later, limit: 10, skipping: []).keys == [key])
        }
    }

    @Test func onlyAnExpiredLeaseIsSweptBackToRetry() async throws {
        try await TestServices.withMigratedDatabase("relay") { resources in
            let events = MongoWorkerStore(pool: resources.mongo)
            let outbox = MongoOutboxStore(pool: resources.mongo)
            let inbox = MongoInboxStore(pool: resources.mongo)
            let audit = MongoAuditQueries(pool: resources.mongo)
            let claimedAt = try await storeOneEvent(in: inbox)
            #expect(try await events.claim(key, worker: "worker-a", leaseDuration: .seconds(30), now: claimedAt) != nil)

            #expect(try await outbox.sweepExpiredLeases(now: claimedAt.addingTimeInterval(29), limit: 10, skipping: []).handled == 0)
            #expect(try await audit.event(key)?["status"] == .string("processing"))

            #expect(try await outbox.sweepExpiredLeases(now: claimedAt.addingTimeInterval(31), limit: 10, skipping: []).handled == 1)
            let swept = try #require(try await audit.event(key))
            #expect(swept["status"] == .string("retry_scheduled"))
            #expect(swept["lease"] == nil)
            let entry = try #require(swept["history"]?.arrayValue?.last?.documentValue)
            #expect(entry["error"]?.stringValue?.hasPrefix("lease_expired: worker-a") == true)
        }
    }
}
