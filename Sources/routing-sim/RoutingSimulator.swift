import ArgumentParser
import Foundation
import GatewayCore
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// `routing-sim`: stands in for the external routing service, with latency and failure injection.
@main
struct RoutingSimulator: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "routing-sim",
        abstract: "A routing service simulator: POST /v1/routes answers a routing decision after a latency.",
        discussion: """
            Failures are drawn deterministically from --seed, the Idempotency-Key and the call's number, so a \
            run can be repeated. The same Idempotency-Key always gets the same decision, and its effect is \
            counted once. GET /stats reports calls, successes and effects per key and the peak concurrency.
            """)

    @Option(help: "Address to bind.") var host = "127.0.0.1"
    @Option(help: "Port to bind; 0 for any free one.") var port = 8090
    @Option(name: .customLong("latency-ms"), help: "Latency of every answer, in ms.") var latencyMilliseconds = 2_000
    @Option(help: "Share of calls answered 503 (transient), 0…1.") var failureRate = 0.0
    @Option(help: "Share of calls answered only after --timeout-ms (beyond the client's timeout), 0…1.") var timeoutRate = 0.0
    @Option(name: .customLong("timeout-ms"), help: "How late a timed-out call is answered, in ms.") var timeoutMilliseconds = 30_000
    @Option(help: "Share of keys that are unroutable: always answered 422 (permanent), 0…1.") var unroutableRate = 0.0
    @Option(help: "Each Idempotency-Key fails (503) its first N calls.") var failFirst = 0
    @Option(help: "Keys starting with this prefix always fail (503), e.g. 'broken-courier:' for one whole source.")
    var failingKeyPrefix: String?
    @Option(help: "Seed of the failure draws.") var seed: UInt64 = 42

    func validate() throws {
        for (name, rate) in [("--failure-rate", failureRate), ("--timeout-rate", timeoutRate), ("--unroutable-rate", unroutableRate)]
        where !(0...1).contains(rate) {
            throw ValidationError("\(name) must be between 0 and 1")
        }
        guard failureRate + timeoutRate <= 1 else { throw ValidationError("--failure-rate plus --timeout-rate must not exceed 1") }
    }

    func run() async throws {
        let simulator = Simulator(
            settings: .init(
                latency: .milliseconds(latencyMilliseconds), failureRate: failureRate, timeoutRate: timeoutRate,
                timeoutDelay: .milliseconds(timeoutMilliseconds), unroutableRate: unroutableRate, failFirst: failFirst,
                failingKeyPrefix: failingKeyPrefix, seed: seed))
        let router = Router()
        router.post("v1/routes") { request, _ in try await simulator.route(request) }
        router.get("stats") { _, _ in simulator.statsResponse() }
        router.get("healthz") { _, _ in Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ok"}"#))) }
        let app = Application(
            router: router, configuration: .init(address: .hostname(host, port: port), serverName: "routing-sim"),
            onServerRunning: { channel in
                print("routing-sim listening on http://\(host):\(channel.localAddress?.port ?? port) (latency \(latencyMilliseconds) ms)")
            })
        try await app.runService()
    }
}

/// The simulator's behaviour and counters.
final class Simulator: Sendable {
    struct Settings {
        var latency: Duration
        var failureRate: Double
        var timeoutRate: Double
        var timeoutDelay: Duration
        var unroutableRate: Double
        var failFirst: Int
        var failingKeyPrefix: String?
        var seed: UInt64
    }

    private struct KeyStats {
        var calls = 0
        var successes = 0
        var effects = 0
        var decision: String?
    }

    private struct State {
        var calls = 0
        var successes = 0
        var failures = 0
        var inFlight = 0
        var peakConcurrency = 0
        var keys: [String: KeyStats] = [:]
    }

    private enum Answer {
        case decision, transient, timeout, unroutable
    }

    private let settings: Settings
    private let state = Mutex(State())

    init(settings: Settings) {
        self.settings = settings
    }

    func route(_ request: Request) async throws -> Response {
        guard let key = request.headers[HTTPField.Name("idempotency-key")!], !key.isEmpty else {
            return Self.json(.badRequest, #"{"error":"missing_idempotency_key"}"#)
        }
        _ = try await request.body.collect(upTo: 1 << 20)
        let call = state.withLock { state -> Int in
            state.calls += 1
            state.inFlight += 1
            state.peakConcurrency = max(state.peakConcurrency, state.inFlight)
            state.keys[key, default: KeyStats()].calls += 1
            return state.keys[key]!.calls
        }
        let answer = self.answer(key: key, call: call)
        do {
            try await Task.sleep(for: answer == .timeout ? settings.timeoutDelay : settings.latency)
        } catch {
            state.withLock { $0.inFlight -= 1 }
            throw error
        }
        return state.withLock { state in
            state.inFlight -= 1
            switch answer {
            case .decision:
                state.successes += 1
                state.keys[key]!.successes += 1
                // Idempotency: the first success applies the effect and fixes the decision; repeats get the same one.
                if state.keys[key]!.effects == 0 {
                    state.keys[key]!.effects = 1
                    state.keys[key]!.decision = Self.decision(for: key, seed: settings.seed)
                }
                return Self.json(.ok, state.keys[key]!.decision!)
            case .transient, .timeout:
                state.failures += 1
                return Self.json(.serviceUnavailable, #"{"error":"temporarily_unavailable"}"#)
            case .unroutable:
                state.failures += 1
                return Self.json(.unprocessableContent, #"{"error":"unroutable","message":"no route to the destination"}"#)
            }
        }
    }

    func statsResponse() -> Response {
        let body = state.withLock { state in
            JSONValue.object([
                ("calls", .integer(Int64(state.calls))),
                ("successes", .integer(Int64(state.successes))),
                ("failures", .integer(Int64(state.failures))),
                ("effects", .integer(Int64(state.keys.values.reduce(0) { $0 + $1.effects }))),
                ("keys", .integer(Int64(state.keys.count))),
                ("inFlight", .integer(Int64(state.inFlight))),
                ("peakConcurrency", .integer(Int64(state.peakConcurrency))),
                (
                    "perKey",
                    .object(
                        state.keys.sorted { $0.key < $1.key }.map { key, stats in
                            (
                                key,
                                .object([
                                    ("calls", .integer(Int64(stats.calls))), ("successes", .integer(Int64(stats.successes))),
                                    ("effects", .integer(Int64(stats.effects))),
                                ])
                            )
                        })
                ),
            ]).serialized
        }
        return Self.json(.ok, body)
    }

    private func answer(key: String, call: Int) -> Answer {
        if call <= settings.failFirst { return .transient }
        if let prefix = settings.failingKeyPrefix, key.hasPrefix(prefix) { return .transient }
        if Self.unit(settings.seed, key, 0) < settings.unroutableRate { return .unroutable }
        let draw = Self.unit(settings.seed, key, call)
        if draw < settings.failureRate { return .transient }
        if draw < settings.failureRate + settings.timeoutRate { return .timeout }
        return .decision
    }

    /// A deterministic number in `[0, 1)` from the seed, the key and the call number (FNV-1a).
    private static func unit(_ seed: UInt64, _ key: String, _ call: Int) -> Double {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325 ^ seed
        for byte in "\(key)#\(call)".utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        hash ^= hash >> 33
        hash = hash &* 0xff51_afd7_ed55_8ccd
        hash ^= hash >> 33
        return Double(hash >> 11) / Double(1 << 53)
    }

    private static let hubs = ["AMS-1", "BER-2", "LYS-1", "MXP-3", "MAD-1", "WAW-2", "VIE-1", "LIS-1"]

    private static func decision(for key: String, seed: UInt64) -> String {
        let draw = unit(seed, key, -1)
        let hub = hubs[Int(draw * Double(hubs.count))]
        let eta = Date().addingTimeInterval(86_400 + (draw * 86_400 * 2).rounded()).formatted(.iso8601)
        return JSONValue.object([
            ("hub", .string(hub)), ("routeCode", .string("R-\(hub.prefix(3))-\(Int(draw * 9_000) + 1_000)")), ("eta", .string(eta)),
        ]).serialized
    }

    private static func json(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
