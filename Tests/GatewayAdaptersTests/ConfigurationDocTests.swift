import Foundation
import GatewayAdapters
import GatewayIntegrationSupport
import Testing

/// docs/configuration.md is generated from the settings' own doc comments (`Setting` in GatewaySettings.swift), the
/// ranges their reader checks and the flags of SettingOptions.swift, so it cannot drift from the code. Run
/// `GATEWAY_WRITE_DOCS=1 scripts/test.sh --filter ConfigurationDocTests` to write it anew after a change.
@Suite("docs/configuration.md")
struct ConfigurationDocTests {
    private let root = TestServices.repositoryRoot

    @Test func theDocumentIsGeneratedFromTheSettingsThemselves() throws {
        let generated = try ConfigurationDocument(root: root).markdown
        let path = root.appendingPathComponent("docs/configuration.md")
        if ProcessInfo.processInfo.environment["GATEWAY_WRITE_DOCS"] == "1" {
            try generated.write(to: path, atomically: true, encoding: .utf8)
        }
        let committed = try String(contentsOf: path, encoding: .utf8)
        #expect(committed == generated, "docs/configuration.md is out of date: GATEWAY_WRITE_DOCS=1 scripts/test.sh --filter ConfigurationDocTests")
    }

    @Test func everySettingIsDocumentedWithItsDefault() throws {
        let document = try ConfigurationDocument(root: root)
        #expect(document.settings.map(\.variable) == Setting.allCases.map(\.rawValue))
        for setting in document.settings {
            #expect(
                setting.meaning.contains("Default") || setting.variable == Setting.webhookSecrets.rawValue, "\(setting.variable) names no default")
        }
    }
}

/// The settings as their source declares them, and the page made of them.
private struct ConfigurationDocument {
    struct Entry {
        let variable: String
        let flag: String?
        let range: String?
        let meaning: String
    }

    let settings: [Entry]

    init(root: URL) throws {
        let settingsSource = try String(
            contentsOf: root.appendingPathComponent("Sources/GatewayAdapters/Configuration/GatewaySettings.swift"), encoding: .utf8)
        let optionsSource = try String(contentsOf: root.appendingPathComponent("Sources/gateway/SettingOptions.swift"), encoding: .utf8)
        let flags = Self.flags(in: optionsSource)
        let ranges = Self.ranges(in: settingsSource)
        var entries: [Entry] = []
        var comment: [String] = []
        let enumBody = settingsSource.components(separatedBy: "public enum Setting:")[1].components(separatedBy: "\n    /// The dotted key")[0]
        for line in enumBody.split(separator: "\n", omittingEmptySubsequences: false).map({ $0.trimmingCharacters(in: .whitespaces) }) {
            if line.hasPrefix("/// ") {
                comment.append(String(line.dropFirst(4)))
            } else if line.hasPrefix("case "), let match = line.firstMatch(of: /case (\w+) = "(GATEWAY_\w+)"/) {
                let name = String(match.1)
                entries.append(Entry(variable: String(match.2), flag: flags[name], range: ranges[name], meaning: comment.joined(separator: " ")))
                comment = []
            } else {
                comment = []
            }
        }
        settings = entries
    }

    /// Flag by setting case, from SettingOptions' options and its list of overrides.
    private static func flags(in source: String) -> [String: String] {
        var flagByProperty: [String: String] = [:]
        var pendingFlag: String?
        for line in source.split(separator: "\n").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            if line.hasPrefix("@Option") {
                pendingFlag = line.firstMatch(of: /customLong\("([^"]+)"\)/).map { String($0.1) }
            } else if let match = line.firstMatch(of: /^var (\w+): String\?/) {
                let property = String(match.1)
                // ArgumentParser's own naming: a run of capitals is one word (`mongoURL` → `mongo-url`).
                flagByProperty[property] = pendingFlag ?? property.replacing(/([a-z0-9])([A-Z]+)/) { "\($0.1)-\($0.2.lowercased())" }
                pendingFlag = nil
            }
        }
        var flags: [String: String] = [:]
        for match in source.matches(of: /\(\.(\w+), (\w+)\)/) {
            if let flag = flagByProperty[String(match.2)] { flags[String(match.1)] = "--" + flag }
        }
        return flags
    }

    /// The accepted range by setting case, from the reads of `GatewayConfiguration.init(reader:)`.
    private static func ranges(in source: String) -> [String: String] {
        var ranges: [String: String] = [:]
        for match in source.matches(of: /reader\.(integer|decimal|milliseconds)\(\.(\w+), in: (.*?)\) \?\?/) {
            let bounds = String(match.3).replacingOccurrences(of: "_", with: "").replacingOccurrences(of: "...", with: "–")
            ranges[String(match.2)] = bounds.replacing(/\((\d+) << 20\)/) { String(Int($0.1)! << 20) }
        }
        return ranges
    }

    var markdown: String {
        var lines = [
            "# Configuration",
            "",
            "<!-- Generated by Tests/GatewayAdaptersTests/ConfigurationDocTests.swift from the doc comments of `Setting`",
            "     (Sources/GatewayAdapters/Configuration/GatewaySettings.swift) and the flags of Sources/gateway/SettingOptions.swift.",
            "     Do not edit: change the comments, then run GATEWAY_WRITE_DOCS=1 scripts/test.sh --filter ConfigurationDocTests. -->",
            "",
            "Every setting is read once at start-up from its environment variable; a flag, where there is one, overrides it.",
            "A value out of its range, or unreadable, stops start-up with a message naming the variable (secrets are never",
            "echoed). Milliseconds are whole numbers; a range is inclusive. How the settings are read, and notes on some of them:",
            "[operations.md](operations.md#settings).",
            "",
            "| Variable | Flag | Range | Meaning |",
            "| --- | --- | --- | --- |",
        ]
        for setting in settings {
            lines.append("| `\(setting.variable)` | \(setting.flag.map { "`\($0)`" } ?? "—") | \(setting.range ?? "—") | \(setting.meaning) |")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
