public import GatewayCore
public import Hummingbird
public import Prometheus

/// `/healthz` (the process answers, and its loops went round lately) and `/readyz` (every dependency answers).
public struct HealthRoutes: Sendable {
    private let probes: [any HealthProbe]
    private let heartbeats: [Heartbeat]
    private let probeTimeout: Duration

    /// Creates the routes; `/readyz` pings each probe with `probeTimeout`; `/healthz` answers 503 once one of the
    /// `heartbeats` is silent for longer than ``Heartbeat/maxSilence``.
    public init(probes: [any HealthProbe], heartbeats: [Heartbeat] = [], probeTimeout: Duration = .seconds(1)) {
        self.probes = probes
        self.heartbeats = heartbeats
        self.probeTimeout = probeTimeout
    }

    /// Adds the routes to `router`.
    public func register<Context: RequestContext>(on router: Router<Context>) {
        router.get("healthz") { _, _ in
            liveness()
        }
        router.get("readyz") { _, _ in
            await readiness()
        }
    }

    /// Serves the registry's metrics at `/metrics`, in Prometheus' text format.
    public static func registerMetrics<Context: RequestContext>(_ metrics: PrometheusCollectorRegistry, on router: Router<Context>) {
        router.get("metrics") { _, _ in
            var text: [UInt8] = []
            metrics.emit(into: &text)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: .init(bytes: text)))
        }
    }

    private func liveness() -> Response {
        let loops = heartbeats.map { heartbeat in
            let silence = heartbeat.silence
            return (heartbeat.name, silence < Heartbeat.maxSilence ? "ok" : "silent for \(Int(silence.seconds)) s")
        }
        let alive = loops.allSatisfy { $0.1 == "ok" }
        return JSONReply(alive ? .ok : .serviceUnavailable, [("status", alive ? "ok" : "stuck")] + loops).response
    }

    private func readiness() async -> Response {
        let probeTimeout = self.probeTimeout
        let results = await withTaskGroup(of: (String, String).self) { group in
            for probe in probes {
                group.addTask {
                    do {
                        guard case .some = try await withDeadline(probeTimeout, { try await probe.ping() }) else {
                            return (probe.name, "timeout")
                        }
                        return (probe.name, "ok")
                    } catch {
                        return (probe.name, "unavailable: \(error)")
                    }
                }
            }
            return await group.reduce(into: [(String, String)]()) { $0.append($1) }.sorted { $0.0 < $1.0 }
        }
        let ready = results.allSatisfy { $0.1 == "ok" }
        var fields: [(String, String)] = [("status", ready ? "ready" : "unavailable")]
        fields += results
        return JSONReply(ready ? .ok : .serviceUnavailable, fields).response
    }
}
