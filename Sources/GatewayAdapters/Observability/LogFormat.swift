public import Foundation
import GatewayCore
public import Logging
import Synchronization

/// How log lines are written (`GATEWAY_LOG_FORMAT`): one line per entry on standard error, with the entry's metadata
/// as fields, so that every line about an event can be found by its `source` and `eventId`.
public enum LogFormat: String, Sendable, CaseIterable {
    /// `ts=2026-12-04T10:00:00.123Z level=info logger=gateway.relay msg="relay pass failed; retrying" error="…"`
    case logfmt
    /// `{"ts":"2026-12-04T10:00:00.123Z","level":"info","logger":"gateway.relay","msg":"…","error":"…"}`
    case json
}

/// A swift-log handler writing ``LogFormat`` lines to standard error; the gateway's processes bootstrap it.
public struct GatewayLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    private let label: String
    private let format: LogFormat

    /// Standard error is shared by every logger of the process: a line is written whole.
    private static let output = Mutex(FileHandle.standardError)
    private static let bootstrapped = Mutex(false)

    /// Makes every logger of the process write this way; only the first call of a process counts.
    public static func bootstrap(format: LogFormat, level: Logger.Level) {
        let first = bootstrapped.withLock { done in
            defer { done = true }
            return !done
        }
        guard first else { return }
        LoggingSystem.bootstrap { label in GatewayLogHandler(label: label, format: format, level: level) }
    }

    public init(label: String, format: LogFormat, level: Logger.Level) {
        self.label = label
        self.format = format
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let extra = event.metadata { fields.merge(extra) { $1 } }
        let line = Self.line(
            at: Date(), level: event.level, label: label, message: "\(event.message)", fields: fields, source: event.source, format: format)
        Self.output.withLock { $0.write(Data((line + "\n").utf8)) }
    }

    /// One entry as a line, without its newline; fields sorted by name, so lines of one kind read alike.
    static func line(
        at date: Date, level: Logger.Level, label: String, message: String, fields: Logger.Metadata, source: String, format: LogFormat
    ) -> String {
        let timestamp = date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
        var pairs: [(String, String)] = [("ts", timestamp), ("level", level.rawValue), ("logger", label), ("msg", message)]
        pairs += fields.sorted { $0.key < $1.key }.map { ($0.key, "\($0.value)") }
        switch format {
        case .logfmt:
            return pairs.map { "\($0.0)=\(logfmtValue($0.1))" }.joined(separator: " ")
        case .json:
            return "{" + pairs.map { "\(jsonString($0.0)):\(jsonString($0.1))" }.joined(separator: ",") + "}"
        }
    }

    private static func logfmtValue(_ value: String) -> String {
        let plain = !value.isEmpty && value.unicodeScalars.allSatisfy { $0.value > 0x20 && $0 != "\"" && $0 != "=" && $0 != "\\" && $0.value < 0x7f }
        return plain ? value : jsonString(value)
    }

    private static func jsonString(_ value: String) -> String {
        JSONValue.string(value).serialized
    }
}
