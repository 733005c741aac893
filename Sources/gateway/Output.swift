import ArgumentParser
import Foundation
import GatewayAdapters
import GatewayCore

/// How a command prints: aligned tables for people by default, JSON with `--json` for scripts.
struct OutputOptions: ParsableArguments {
    @Flag(help: "Print one JSON document for scripts instead of the table (show commands: on one line instead of pretty-printed).")
    var json = false
}

/// Columns aligned with two spaces between them; the last column is not padded.
struct Table {
    var headers: [String]
    var rows: [[String]] = []

    init(_ headers: String...) {
        self.headers = headers
    }

    mutating func add(_ cells: String...) {
        rows.append(cells)
    }

    var rendered: String {
        let all = [headers] + rows
        let widths = headers.indices.map { column in all.map { $0.indices.contains(column) ? $0[column].count : 0 }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }
            .joined(separator: "  ")
        }
        .joined(separator: "\n")
    }
}

/// Options that read instants as operators write them (see ``OperatorInstant``).
enum InstantArgument {
    static func parse(_ text: String) throws -> Date {
        do {
            return try OperatorInstant.parse(text)
        } catch {
            throw ValidationError(error.description)
        }
    }
}

/// `source:eventId` pairs as the CLI takes them.
enum EventKeyArgument {
    static func parse(source: String?, ids: [String]) throws -> [EventKey] {
        guard let source else { throw ValidationError("--id needs --source") }
        return ids.map { EventKey(source: source, eventId: $0) }
    }
}

extension Optional where Wrapped == Date {
    /// The instant for a table cell, or `-`.
    var cell: String { map { OperatorTime.short($0) } ?? "-" }
}

/// Times in tables: UTC, to the second.
enum OperatorTime {
    static func short(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(timeZone: .gmt).year().month().day().time(includingFractionalSeconds: false))
    }

    /// A duration in seconds as `12s`, `4m05s`, `3h02m` or `2d04h`.
    static func age(_ seconds: Double) -> String {
        let whole = Int(seconds.rounded(.down))
        switch whole {
        case ..<60: return "\(whole)s"
        case ..<3_600: return "\(whole / 60)m" + String(format: "%02ds", whole % 60)
        case ..<86_400: return "\(whole / 3_600)h" + String(format: "%02dm", whole % 3_600 / 60)
        default: return "\(whole / 86_400)d" + String(format: "%02dh", whole % 86_400 / 3_600)
        }
    }
}
