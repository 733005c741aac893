import AsyncHTTPClient
import Foundation
import GatewayAdapters
import GatewayCore
import NIOCore

/// What became of the accepted events.
struct EventOutcome: Sendable {
    /// Counts per lifecycle state over time: (seconds since following began, state → count).
    var samples: [(seconds: Double, counts: [String: Int])] = []
    var processed = 0
    var dead = 0
    /// Accepted (202) but not terminal when following stopped.
    var lost = 0
    /// Events whose routing effect the simulator counted more than once.
    var doubledEffects = 0
    /// Events the simulator answered successfully more than once (suppressed by the Idempotency-Key).
    var repeatedRoutingSuccesses = 0
    var attemptsHistogram: [Int: Int] = [:]
    /// Receipt to terminal state, per terminal event.
    var endToEndSeconds: [Double] = []
    var followedFor: Duration = .zero
}

/// Follows a run's events in MongoDB until every accepted one is terminal, sampling the states as it goes.
struct EventFollower {
    private let pool: MongoConnectionPool
    private let source: String
    private let simulatorURL: String?

    init(mongoURL: String, source: String, simulatorURL: String?) throws {
        pool = try MongoConnectionPool(url: mongoURL, size: 2)
        self.source = source
        self.simulatorURL = simulatorURL
    }

    func follow(accepted: Set<String>, timeout: Duration) async throws -> EventOutcome {
        let queries = MongoAuditQueries(pool: pool)
        var outcome = EventOutcome()
        let started = ContinuousClock.now
        while true {
            let queried = ContinuousClock.now
            let counts = try await queries.statusCounts(source: source)
            let elapsed = ContinuousClock.now - started
            outcome.samples.append((elapsed.seconds, counts))
            let terminal = (counts[EventStatus.processed.rawValue] ?? 0) + (counts[EventStatus.dead.rawValue] ?? 0)
            if elapsed > timeout { break }
            // The counts include events stored after their request got a 503 (the write landed late), so
            // they only say when to check the accepted events one by one.
            if terminal >= accepted.count, try await allTerminal(accepted, queries: queries) { break }
            // The count scans the run's events; polling at most a twentieth of the time keeps the observer from
            // taking the store (SecantusDB: ~280 ms a scan at 10,000 events) away from the pipeline it measures.
            try await Task.sleep(for: max(.seconds(1), (ContinuousClock.now - queried) * 19))
        }
        outcome.followedFor = ContinuousClock.now - started
        for document in try await queries.eventOutcomes(source: source) {
            guard let eventId = document["eventId"]?.stringValue, accepted.contains(eventId) else { continue }
            let finishedAt: Date?
            switch document["status"]?.stringValue {
            case EventStatus.processed.rawValue:
                outcome.processed += 1
                finishedAt = document["processedAt"]?.dateValue
            case EventStatus.dead.rawValue:
                outcome.dead += 1
                finishedAt = document["deadAt"]?.dateValue
            default:
                outcome.lost += 1
                finishedAt = nil
            }
            outcome.attemptsHistogram[document["attempts"]?.intValue ?? 0, default: 0] += 1
            if let finishedAt, let receivedAt = document["receivedAt"]?.dateValue {
                outcome.endToEndSeconds.append(finishedAt.timeIntervalSince(receivedAt))
            }
        }
        outcome.lost += accepted.count - (outcome.processed + outcome.dead + outcome.lost)
        if let simulatorURL { try await countEffects(simulatorURL, into: &outcome) }
        await pool.shutdown()
        return outcome
    }

    private func allTerminal(_ accepted: Set<String>, queries: MongoAuditQueries) async throws -> Bool {
        let terminal = try await queries.eventOutcomes(source: source).filter { document in
            [EventStatus.processed.rawValue, EventStatus.dead.rawValue].contains(document["status"]?.stringValue ?? "")
        }
        return Set(terminal.compactMap { $0["eventId"]?.stringValue }).isSuperset(of: accepted)
    }

    private func countEffects(_ simulatorURL: String, into outcome: inout EventOutcome) async throws {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: simulatorURL + "/stats"), timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 256 << 20)
        guard case .object(let perKey) = try JSONValue(parsing: Array(body.readableBytesView))["perKey"] else { return }
        for (key, stats) in perKey where key.hasPrefix(source + ":") {
            if case .integer(let effects) = stats["effects"], effects > 1 { outcome.doubledEffects += 1 }
            if case .integer(let successes) = stats["successes"], successes > 1 { outcome.repeatedRoutingSuccesses += 1 }
        }
    }
}
