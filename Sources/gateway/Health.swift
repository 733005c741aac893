import ArgumentParser
import GatewayAdapters

/// `gateway health`: the container healthcheck of every role.
struct Health: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ask a running gateway process whether it is healthy; exit 0 when it is.",
        discussion: """
            The api and all roles are asked on GATEWAY_HTTP_PORT, a relay or worker on GATEWAY_METRICS_PORT (which it \
            must serve). /healthz is healthy while the process answers and each of its loops (relay passes, worker \
            stream reads) went round within the last 60 s; with --ready, /readyz also needs MongoDB and Redis to answer. \
            Prints the answer. Exit status 0 healthy, 1 unhealthy or no answer.
            """)

    @Option(help: "Which role's process to ask: \(Role.allCases.map(\.rawValue).joined(separator: ", ")).") var role: Role = .all
    @Flag(help: "Ask /readyz (the process and its store and Redis) instead of /healthz.") var ready = false
    @Option(name: .customLong("timeout-ms"), help: "How long to wait for the answer.") var timeoutMilliseconds = 2_000
    @Option(help: "Ask this URL instead (e.g. routing-sim's http://127.0.0.1:8090/healthz); --role and --ready are ignored.")
    var url: String?
    @OptionGroup var settings: SettingOptions

    func run() async throws {
        let configuration = try settings.load()
        let url = try self.url ?? HealthCheck.url(role: role, configuration: configuration, ready: ready)
        do {
            let answer = try await HealthCheck.ask(url, timeout: .milliseconds(timeoutMilliseconds))
            print("\(answer.status) \(answer.body)")
            if !answer.healthy { throw ExitCode(1) }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            print("no answer from \(url): \(error)")
            throw ExitCode(1)
        }
    }
}
