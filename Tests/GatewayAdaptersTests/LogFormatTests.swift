import Foundation
import Logging
import Testing

@testable import GatewayAdapters

/// Log lines as `GATEWAY_LOG_FORMAT` writes them, and the settings that choose them.
@Suite("Log lines")
struct LogFormatTests {
    let at = Date(timeIntervalSince1970: 1_796_378_400)
    let fields: Logger.Metadata = ["source": "courier", "eventId": "evt 1", "error": "said \"no\"\nthen left"]

    @Test func logfmtQuotesOnlyWhatNeedsIt() {
        let line = GatewayLogHandler.line(
            at: at, level: .warning, label: "gateway.worker", message: "event handling failed", fields: fields, source: "", format: .logfmt)
        #expect(
            line
                == #"ts=2026-12-04T10:00:00.000Z level=warning logger=gateway.worker msg="event handling failed" error="said \"no\"\nthen left" eventId="evt 1" source=courier"#
        )
    }

    @Test func jsonLinesAreOneObjectEach() throws {
        let line = GatewayLogHandler.line(at: at, level: .info, label: "gateway.api", message: "listening", fields: fields, source: "", format: .json)
        #expect(!line.contains("\n"))
        #expect(
            line.hasPrefix(
                #"{"ts":"2026-12-04T10:00:00.000Z","level":"info","logger":"gateway.api","msg":"listening","error":"said \"no\"\nthen left""#))
    }

    @Test func theFormatAndLevelAreReadFromTheirSettings() throws {
        let configuration = try GatewayConfiguration.load(environment: ["GATEWAY_LOG_FORMAT": "JSON", "GATEWAY_LOG_LEVEL": "debug"])
        #expect(configuration.logFormat == .json && configuration.logLevel == .debug)
        #expect(try GatewayConfiguration.load(environment: [:]).logFormat == .logfmt)
        #expect(throws: ConfigurationError.self) { try GatewayConfiguration.load(environment: ["GATEWAY_LOG_FORMAT": "xml"]) }
        #expect(throws: ConfigurationError.self) { try GatewayConfiguration.load(environment: ["GATEWAY_LOG_LEVEL": "loud"]) }
    }
}
