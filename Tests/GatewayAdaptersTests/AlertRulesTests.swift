import Foundation
import GatewayCore
import GatewayIntegrationSupport
import Testing

@testable import GatewayAdapters

/// `docs/alerts.yml` only names metrics the gateway exports, with label values it uses: a renamed metric breaks this
/// test instead of silencing an alert.
@Suite("docs/alerts.yml")
struct AlertRulesTests {
    private static let rules = TestServices.repositoryRoot.appendingPathComponent("docs/alerts.yml")

    private func expressions() throws -> [String] {
        try String(contentsOf: Self.rules, encoding: .utf8).split(separator: "\n")
            .compactMap { line in
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                return trimmed.hasPrefix("expr:") ? String(trimmed.dropFirst(5)) : nil
            }
    }

    @Test func everyRuleNamesOnlyExportedMetrics() throws {
        let expressions = try expressions()
        #expect(expressions.count >= 8)
        let exported = Set(MetricName.all)
        for expression in expressions {
            let names = expression.matches(of: /gateway_[a-z_]+/).map { String($0.output) }
            #expect(!names.isEmpty, "\(expression) watches no gateway metric")
            for name in names {
                let base = ["_bucket", "_sum", "_count"].reduce(name) { $0.hasSuffix($1) ? String($0.dropLast($1.count)) : $0 }
                #expect(exported.contains(base), "\(expression): \(name) is not exported")
            }
            for status in expression.matches(of: /status="([a-z_]+)"/).map({ String($0.output.1) }) {
                #expect(EventStatus(rawValue: status) != nil, "\(expression): no status \(status)")
            }
        }
    }

    @Test func theRulesCoverStuckWorkDeadLettersTheBreakerAndIngestErrors() throws {
        let all = try expressions().joined(separator: "\n")
        for watched in [MetricName.oldestEventAge, MetricName.outcomes, MetricName.deadLetters, MetricName.circuitOpen, MetricName.ingestResponses] {
            #expect(all.contains(watched), "no rule watches \(watched)")
        }
        let text = try String(contentsOf: Self.rules, encoding: .utf8)
        let alerts = text.matches(of: /- alert: (\w+)/).count
        #expect(alerts == text.matches(of: /summary:/).count, "every rule has a summary")
    }
}
