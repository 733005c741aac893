public import GatewayCore
public import Hummingbird

/// `/healthz` (the process answers) and `/readyz` (every dependency answers).
public struct HealthRoutes: Sendable {
    private let probes: [any HealthProbe]
    private let probeTimeout: Duration

    /// Creates the routes; `/readyz` pings each probe with `probeTimeout`.
    public init(probes: [any HealthProbe], probeTimeout: Duration = .seconds(1)) {
        self.probes = probes
        self.probeTimeout = probeTimeout
    }

    /// Adds the routes to `router`.
    public func register<Context: RequestContext>(on router: Router<Context>) {
        router.get("healthz") { _, _ in
            JSONReply(.ok, [("status", "ok")]).response
        }
        router.get("readyz") { _, _ in
            await readiness()
        }
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
