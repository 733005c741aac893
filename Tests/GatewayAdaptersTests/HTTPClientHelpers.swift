import Foundation
import GatewayIntegrationSupport
import GatewayTestSupport
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore

/// Posts deliveries through HummingbirdTesting's client.
extension TestClientProtocol {
    func deliver(
        source: String = Fixtures.source, id: String, body: String, headers: [(name: String, value: String)]? = nil
    ) async throws -> TestResponse {
        let fields = (headers ?? Fixtures.signedHeaders(id: id, body: body)).map { HTTPField(name: HTTPField.Name($0.name)!, value: $0.value) }
        return try await execute(
            uri: "/webhooks/\(source)", method: .post, headers: HTTPFields(fields + [HTTPField(name: .contentType, value: "application/json")]),
            body: ByteBuffer(string: body))
    }
}

extension TestResponse {
    var text: String { String(buffer: body) }
}

/// A bare HTTP/1.1 connection: writes requests back to back, as a pipelining client does, and reads the
/// status codes of the responses in the order they arrive.
enum PipelinedConnection {
    static func statuses(port: Int, requests: [String], timeout: Duration = .seconds(10)) async throws -> [Int] {
        let connection = try RawConnection(port: port)
        try connection.send(requests.joined())
        let (received, _) = await connection.receive(timeout: timeout) { statusCodes(in: $0).count >= requests.count }
        let codes = statusCodes(in: received)
        guard codes.count == requests.count else { throw TestSupportError("connection ended after \(received.debugDescription)") }
        return codes
    }

    /// A signed (or, with `signature`, forged) delivery to the test source; `closing` asks for `Connection: close`.
    static func delivery(id: String, body: String, signature: String? = nil, closing: Bool = false) -> String {
        var headers = Fixtures.signedHeaders(id: id, body: body)
        if let signature { headers[2].value = signature }
        if closing { headers.append((name: "Connection", value: "close")) }
        let lines = headers.map { "\($0.name): \($0.value)\r\n" }.joined()
        return
            "POST /webhooks/\(Fixtures.source) HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\(lines)Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
    }

    static func statusCodes(in text: String) -> [Int] {
        text.components(separatedBy: "HTTP/1.1 ").dropFirst().compactMap { Int($0.prefix(3)) }
    }
}
