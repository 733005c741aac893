public import Foundation
public import GatewayCore
import Metrics
import Synchronization

/// Every metric the gateway exports, by name: the code emits these and `docs/alerts.yml` is checked against them.
public enum MetricName {
    /// Counter `{source, status}`: ingest replies. `source` is a configured source or `unknown`.
    public static let ingestResponses = "gateway_ingest_responses_total"
    /// Histogram: from a delivery's request head to its reply.
    public static let ingestAckSeconds = "gateway_ingest_ack_seconds"
    /// Counter: events the relay published (due) and republished (recovered).
    public static let relayPublished = "gateway_relay_published_total"
    public static let relayRecovered = "gateway_relay_recovered_total"
    /// Counter `{step}`: one document a relay step set aside; a whole step that failed.
    public static let relayDocumentFailures = "gateway_relay_document_failures_total"
    public static let relayStepFailures = "gateway_relay_step_failures_total"
    /// Gauge: unix time of the relay's last pass that ended without a store-wide failure.
    public static let relayLastPassTimestamp = "gateway_relay_last_pass_timestamp_seconds"
    /// Gauges sampled from the store and the stream by the relay role.
    public static let events = "gateway_events"
    public static let oldestEventAge = "gateway_oldest_event_age_seconds"
    public static let deadLetters = "gateway_dead_letters"
    public static let streamLength = "gateway_stream_length"
    public static let streamPending = "gateway_stream_pending"
    /// Counter `{outcome, class}`: attempt outcomes the workers recorded (`class` is the failure class of `dead`).
    public static let outcomes = "gateway_attempt_outcomes_total"
    /// Histogram: from an event's receipt to its terminal outcome (`processed` or `dead`).
    public static let processingSeconds = "gateway_processing_seconds"
    /// Counter `{result}` and histogram: routing calls.
    public static let routingCalls = "gateway_routing_calls_total"
    public static let routingCallSeconds = "gateway_routing_call_seconds"
    /// Gauge: 1 while a worker's circuit breaker is open or half-open.
    public static let circuitOpen = "gateway_circuit_breaker_open"
    /// Gauge: events a worker holds.
    public static let eventsInFlight = "gateway_worker_events_in_flight"
    /// Counter: entries a worker acknowledged because the store refused their event's document.
    public static let workerDocumentFailures = "gateway_worker_document_failures_total"
    /// Counter: dead events replayed by operators (in the process that replayed them: the api for `/v1/…`).
    public static let replays = "gateway_replays_total"

    /// Every exported name as it appears in `/metrics` (histograms add `_bucket`, `_sum` and `_count`).
    public static let all: [String] = [
        ingestResponses, ingestAckSeconds, relayPublished, relayRecovered, relayDocumentFailures, relayStepFailures, relayLastPassTimestamp,
        events, oldestEventAge, deadLetters, streamLength, streamPending, outcomes, processingSeconds, routingCalls, routingCallSeconds,
        circuitOpen, eventsInFlight, workerDocumentFailures, replays, "gateway_store_batch_size", "gateway_store_batch_wait_seconds",
        "gateway_store_batch_queue_depth", "gateway_store_batches_in_flight",
    ]
}

/// The use cases' observations as swift-metrics (exported by swift-prometheus at `/metrics`).
public struct MetricsObserver: PipelineObserver {
    private let routingLatency = Timer(label: MetricName.routingCallSeconds)
    private let processingLatency = Timer(label: MetricName.processingSeconds)
    private let breaker = Gauge(label: MetricName.circuitOpen)
    private let calls = Dictionary(
        uniqueKeysWithValues: RoutingCallOutcome.allCases.map { ($0, Counter(label: MetricName.routingCalls, dimensions: [("result", $0.rawValue)])) }
    )
    private let replays = Counter(label: MetricName.replays)

    public init() {}

    public func routingCallEnded(_ outcome: RoutingCallOutcome, latency: Duration, breakerClosed: Bool) {
        calls[outcome]?.increment()
        routingLatency.recordNanoseconds(latency.nanoseconds)
        breaker.record(breakerClosed ? 0 : 1)
    }

    public func outcomeRecorded(_ transition: Transition, receivedAt: Date, now: Date) {
        let failureClass = if case .deadLetter(let failureClass, _, _) = transition { failureClass.rawValue } else { "" }
        Counter(label: MetricName.outcomes, dimensions: [("outcome", transition.outcome.rawValue), ("class", failureClass)]).increment()
        if transition.status.isTerminal {
            processingLatency.recordNanoseconds(Int64(max(0, now.timeIntervalSince(receivedAt)) * 1e9))
        }
    }

    public func replayed(_ count: Int) {
        replays.increment(by: count)
    }
}

/// When a role's loop last went round without a store-wide failure: `/healthz` of a relay or worker process answers
/// 503 once it is older than ``maxSilence``, so that a stuck loop shows even though the process is up.
public final class Heartbeat: Sendable {
    /// The loop's name in `/healthz`.
    public let name: String
    private let lastBeat: Mutex<ContinuousClock.Instant>

    /// How long a loop may go without a beat before it counts as stuck.
    public static let maxSilence: Duration = .seconds(60)

    /// A heartbeat that beat now: a loop starting up is given ``maxSilence`` to get going.
    public init(name: String) {
        self.name = name
        lastBeat = Mutex(.now)
    }

    public func beat() {
        lastBeat.withLock { $0 = .now }
    }

    /// Time since the last beat.
    public var silence: Duration { ContinuousClock.now - lastBeat.withLock { $0 } }
}

extension Duration {
    /// The duration in whole nanoseconds.
    var nanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }
}
