import ArgumentParser
import Foundation
import GatewayAdapters
import GatewayCore

/// `gateway stats`: where events are and what is stuck, in one screen.
struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show event counts by status and source, the oldest waits, the stream's consumers and the relay's failing documents.",
        discussion: """
            The oldest wait of a status is how long its longest-waiting event has been due (received, retry_scheduled, \
            parked), queued (queued) or past its lease's expiry (processing). Redis being unreachable does not fail the \
            command: the stream section says why it is missing. Exit status 0, or 1 when MongoDB cannot be read.
            """)

    @OptionGroup var output: OutputOptions
    @OptionGroup var settings: SettingOptions

    func run() async throws {
        let configuration = try settings.load()
        let stats = try await GatewayResources.using(configuration) { resources in
            try await OperatorQueries(resources: resources, configuration: configuration).stats()
        }
        if output.json { return print(stats.json.pretty) }
        var statuses = Table("STATUS", "EVENTS", "OLDEST WAIT", "OLDEST EVENT")
        for status in EventStatus.allCases {
            let oldest = stats.oldest.first { $0.status == status }
            statuses.add(
                status.rawValue, "\(stats.byStatus[status] ?? 0)", oldest.map { OperatorTime.age($0.seconds) } ?? "-",
                oldest.map { "\($0.event)" } ?? "-")
        }
        print(statuses.rendered)
        print("\ndue for retry now: \(stats.dueForRetry)")
        if !stats.bySource.isEmpty {
            var sources = Table(["SOURCE"] + EventStatus.allCases.map { $0.rawValue.uppercased() })
            for source in stats.bySource.keys.sorted() {
                sources.rows.append([source] + EventStatus.allCases.map { "\(stats.bySource[source]?[$0] ?? 0)" })
            }
            print("\n" + sources.rendered)
        }
        if !stats.deadByClass.isEmpty {
            var dead = Table("DEAD CLASS", "EVENTS")
            for name in stats.deadByClass.keys.sorted() { dead.add(name, "\(stats.deadByClass[name] ?? 0)") }
            print("\n" + dead.rendered)
        }
        switch stats.stream {
        case .success(let health):
            print("\nstream \(health.stream): \(health.length) entries")
            var consumers = Table("GROUP", "LAG", "PENDING", "CONSUMER", "CONSUMER PENDING", "IDLE")
            for group in health.groups {
                consumers.add(group.name, group.lag.map(String.init) ?? "?", "\(group.pending)", "-", "-", "-")
                for consumer in group.consumers {
                    consumers.add("", "", "", consumer.name, "\(consumer.pending)", OperatorTime.age(Double(consumer.idleMilliseconds) / 1_000))
                }
            }
            if !health.groups.isEmpty { print(consumers.rendered) }
        case .failure(let failure):
            print("\nstream: unavailable (\(failure.message))")
        }
        if !stats.relayFailures.isEmpty {
            var failures = Table("STEP", "EVENT", "FAILURES", "RETRY AT", "ERROR")
            for failure in stats.relayFailures {
                failures.add(
                    failure.step, failure.event.map { "\($0)" } ?? failure.recordId, "\(failure.failures)", failure.retryAt.cell, failure.error)
            }
            print("\ndocuments the relay keeps failing on:\n" + failures.rendered)
        }
    }
}

/// `gateway check`: the README's promises checked against the store, for cron jobs and probes.
struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the invariants the gateway promises and list the events that break them.",
        discussion: """
            Checked: no queued event unclaimed past the recovery window, no processing event with a lease expired beyond \
            one sweep, no dead event without its dead letter, no processed event without its result (each allows the \
            relay one pass of slack). Exit status 0 when all hold, 1 when any is broken, 2 when the store cannot be read.
            """)

    @OptionGroup var output: OutputOptions
    @OptionGroup var settings: SettingOptions

    func run() async throws {
        let configuration = try settings.load()
        let report: InvariantReport
        do {
            report = try await GatewayResources.using(configuration) { resources in
                try await OperatorQueries(resources: resources, configuration: configuration).check()
            }
        } catch {
            print("cannot check: \(error)")
            throw ExitCode(2)
        }
        if output.json {
            print(report.json.pretty)
        } else {
            var table = Table("STATUS", "EVENTS", "INVARIANT", "OFFENDERS")
            for finding in report.findings {
                table.add(
                    finding.holds ? "ok" : "BROKEN", "\(finding.count)", finding.invariant, finding.offenders.map { "\($0)" }.joined(separator: " "))
            }
            print(table.rendered)
        }
        if !report.holds { throw ExitCode(1) }
    }
}

extension Table {
    init(_ headers: [String]) {
        self.headers = headers
    }
}
