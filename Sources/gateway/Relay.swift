import ArgumentParser
import GatewayAdapters
import GatewayCore

/// `gateway relay --once`: one full relay pass, for operators.
struct Relay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish due inbox events to the stream and recover what the stream lost.",
        discussion: """
            With --once, runs one full pass and prints what it did: events published, queued events \
            recovered (unclaimed for longer than GATEWAY_RELAY_RECOVERY_MS, or all of them when Redis lost \
            its data), expired worker leases swept back to retry_scheduled and dead letters reconciled. \
            Safe to run while relays and workers are running: duplicate stream entries are skipped by the workers' claim.

            A document one step cannot handle (the store refuses it) does not stop the pass: it is listed, recorded in \
            relay_failures and left out of that step for a growing backoff. Exit status 1 when a document or a whole \
            step failed, 0 otherwise.
            """)

    @Flag(help: "Run one pass and exit (the only mode; `serve --role relay` runs the relay continuously).")
    var once = false

    @OptionGroup var settings: SettingOptions

    func run() async throws {
        guard once else { throw ValidationError("pass --once, or run `gateway serve --role relay` for a continuous relay") }
        let configuration = try settings.load()
        let report = try await GatewayResources.using(configuration) { resources in
            try await GatewayRuntime.buildRelayPass(configuration: configuration, resources: resources).runOnce(maximumBatches: .max)
        }
        print(
            "published \(report.published), recovered \(report.recovered), swept leases \(report.sweptLeases), reconciled dead letters \(report.reconciledDeadLetters)"
        )
        for failure in report.failures {
            let event = failure.key.map { "\($0)" } ?? "document \(failure.recordId)"
            print("failed \(failure.step.rawValue) on \(event): \(failure.error)")
        }
        for (step, error) in report.failedSteps.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            print("failed step \(step.rawValue): \(error)")
        }
        if !report.failures.isEmpty || !report.failedSteps.isEmpty { throw ExitCode(1) }
    }
}
