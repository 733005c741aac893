import ArgumentParser
import Foundation
import GatewayAdapters
import GatewayCore

/// `gateway audit`: the auditors' commands.
struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check that event histories are as the gateway wrote them.", subcommands: [Verify.self])

    /// `gateway audit verify`: recomputes every selected event's audit chain.
    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute the sealed history of every selected event and report those altered since they were written.",
            discussion: """
                Each event's chain starts at its ingest record (source, event id, payload digest, receivedAt) and links \
                every history entry to the one before with an HMAC under GATEWAY_AUDIT_KEY; GATEWAY_AUDIT_OLD_KEYS verify \
                entries sealed before a rotation. Reported per event, with the first bad entry: an altered ingest record \
                or payload, an altered, removed or reordered entry, a truncated history, a key that is not configured. \
                Events accepted while no key was configured carry no seal; they fail the check unless --allow-unsealed \
                (or select the time sealing began with --since). What this proves and what it does not: docs/auditing.md. \
                Exit status 0 when every selected event verifies; 1 when any does not; 2 when no audit key is configured \
                or the store cannot be read.
                """)

        @Option(help: "Only this source's events.") var source: String?
        @Option(help: "Only events received at or after this instant (ISO 8601, or an age such as 24h or 7d).") var since: String?
        @Flag(help: "Accept events that carry no seal at all (accepted before an audit key was configured).") var allowUnsealed = false
        @OptionGroup var output: OutputOptions
        @OptionGroup var settings: SettingOptions

        func run() async throws {
            let configuration = try settings.load()
            let since = try since.map { try InstantArgument.parse($0) }
            guard let keys = configuration.auditKeys else {
                print("cannot verify: no GATEWAY_AUDIT_KEY is configured")
                throw ExitCode(2)
            }
            let report: HistoryAuditReport
            do {
                report = try await GatewayResources.using(configuration) { resources in
                    try await HistoryAudit(resources: resources, keys: keys).verify(source: source, since: since)
                }
            } catch {
                print("cannot verify: \(error)")
                throw ExitCode(2)
            }
            if output.json {
                print(report.json().pretty)
            } else {
                print(
                    "checked \(report.checked) events with keys \(report.keyIds.joined(separator: ", ")): \(report.verified) verified, "
                        + "\(report.findings.count) altered, \(report.unsealed.count) unsealed")
                if !report.findings.isEmpty {
                    var table = Table("EVENT", "PROBLEM", "ENTRY", "DETAIL")
                    for finding in report.findings {
                        table.add("\(finding.key)", finding.problem.rawValue, finding.entry.map(String.init) ?? "-", finding.detail)
                    }
                    print(table.rendered)
                }
                if !report.unsealed.isEmpty && !allowUnsealed {
                    let listed = report.unsealed.prefix(20).map { "\($0)" }.joined(separator: " ")
                    print("unsealed: \(listed)\(report.unsealed.count > 20 ? " …" : "")")
                }
            }
            if !report.findings.isEmpty || (!report.unsealed.isEmpty && !allowUnsealed) { throw ExitCode(1) }
        }
    }
}
