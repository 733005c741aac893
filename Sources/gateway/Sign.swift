import ArgumentParser
import Foundation
import GatewayCore

/// `gateway sign`: prints a signed `curl` for a body, for demos and for trying a source's secret.
struct Sign: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a curl command that posts a correctly signed Standard Webhooks delivery.")

    @Option(help: "The gateway's base URL.")
    var url = "http://127.0.0.1:8080"
    @Option(help: "The source to post to (/webhooks/{source}).")
    var source: String
    @Option(help: "The source's secret, whsec_<base64>.")
    var secret: String
    @Option(help: "The event id (webhook-id); a random one by default.")
    var id: String?
    @Option(help: "The JSON body.")
    var body = #"{"type":"shipment.status_updated","shipmentId":"SHP-000001","status":"in_transit","occurredAt":"2026-11-24T10:00:00Z"}"#

    func run() throws {
        let signingSecret: WebhookSecret
        do {
            signingSecret = try WebhookSecret(encoded: secret)
        } catch {
            throw ValidationError("--secret: \(error)")
        }
        let eventId = id ?? "evt_\(UUID().uuidString.lowercased())"
        let timestamp = Int64(Date().timeIntervalSince1970)
        let signature = WebhookSignature.sign(id: eventId, timestamp: timestamp, body: Array(body.utf8), secret: signingSecret)
        let quotedBody = "'" + body.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
        print(
            """
            curl -sS -X POST '\(url)/webhooks/\(source)' \\
              -H 'content-type: application/json' \\
              -H 'webhook-id: \(eventId)' \\
              -H 'webhook-timestamp: \(timestamp)' \\
              -H 'webhook-signature: \(signature)' \\
              --data-binary \(quotedBody)
            """)
    }
}
