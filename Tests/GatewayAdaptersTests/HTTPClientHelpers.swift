import Foundation
import GatewayTestSupport
import Glibc
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
    static func statuses(port: Int, requests: [String], timeout: Duration = .seconds(10)) throws -> [Int] {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw PipelinedConnectionError("socket failed") }
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw PipelinedConnectionError("connect to port \(port) failed") }
        var receiveTimeout = timeval(tv_sec: Int(timeout.components.seconds), tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &receiveTimeout, socklen_t(MemoryLayout<timeval>.size))
        let bytes = Array(requests.joined().utf8)
        guard send(socket, bytes, bytes.count, 0) == bytes.count else { throw PipelinedConnectionError("send failed") }
        var received = ""
        var buffer = [UInt8](repeating: 0, count: 4_096)
        while statusCodes(in: received).count < requests.count {
            let count = recv(socket, &buffer, buffer.count, 0)
            guard count > 0 else { throw PipelinedConnectionError("connection ended after \(received.debugDescription)") }
            received += String(decoding: buffer[..<count], as: UTF8.self)
        }
        return statusCodes(in: received)
    }

    /// A signed (or, with `signature`, forged) delivery to the test source.
    static func delivery(id: String, body: String, signature: String? = nil) -> String {
        var headers = Fixtures.signedHeaders(id: id, body: body)
        if let signature { headers[2].value = signature }
        let lines = headers.map { "\($0.name): \($0.value)\r\n" }.joined()
        return "POST /webhooks/\(Fixtures.source) HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\(lines)Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
    }

    private static func statusCodes(in text: String) -> [Int] {
        text.components(separatedBy: "HTTP/1.1 ").dropFirst().compactMap { Int($0.prefix(3)) }
    }
}

struct PipelinedConnectionError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
