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

/// A bare TCP connection to the api, for what an HTTP client library would not do: pipelining, stalling
/// mid-request, holding a connection open. Its blocking reads run on a Dispatch thread, never on the
/// cooperative pool that the api under test also runs on.
final class RawConnection: @unchecked Sendable {
    private let socket: Int32

    /// Connects to the api on `port`.
    init(port: Int) throws {
        socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw PipelinedConnectionError("socket failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(socket)
            throw PipelinedConnectionError("connect to port \(port) failed")
        }
    }

    deinit { close(socket) }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        guard Glibc.send(socket, bytes, bytes.count, Int32(MSG_NOSIGNAL)) == bytes.count else { throw PipelinedConnectionError("send failed") }
    }

    /// What the server sent until it closed the connection, `until` held, or `timeout` passed; and whether it closed.
    func receive(timeout: Duration, until done: @escaping @Sendable (String) -> Bool = { _ in false }) async -> (text: String, closed: Bool) {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: self.blockingReceive(timeout: timeout, until: done)) }
        }
    }

    private func blockingReceive(timeout: Duration, until done: (String) -> Bool) -> (text: String, closed: Bool) {
        var receiveTimeout = timeval(tv_sec: 0, tv_usec: 50_000)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &receiveTimeout, socklen_t(MemoryLayout<timeval>.size))
        let deadline = ContinuousClock.now + timeout
        var received = ""
        var buffer = [UInt8](repeating: 0, count: 4_096)
        while ContinuousClock.now < deadline, !done(received) {
            let count = recv(socket, &buffer, buffer.count, 0)
            if count == 0 { return (received, true) }
            if count > 0 { received += String(decoding: buffer[..<count], as: UTF8.self) }
            if count < 0, errno != EAGAIN, errno != EWOULDBLOCK { return (received, true) }
        }
        return (received, false)
    }
}

/// A bare HTTP/1.1 connection: writes requests back to back, as a pipelining client does, and reads the
/// status codes of the responses in the order they arrive.
enum PipelinedConnection {
    static func statuses(port: Int, requests: [String], timeout: Duration = .seconds(10)) async throws -> [Int] {
        let connection = try RawConnection(port: port)
        try connection.send(requests.joined())
        let (received, _) = await connection.receive(timeout: timeout) { statusCodes(in: $0).count >= requests.count }
        let codes = statusCodes(in: received)
        guard codes.count == requests.count else { throw PipelinedConnectionError("connection ended after \(received.debugDescription)") }
        return codes
    }

    /// A signed (or, with `signature`, forged) delivery to the test source.
    static func delivery(id: String, body: String, signature: String? = nil) -> String {
        var headers = Fixtures.signedHeaders(id: id, body: body)
        if let signature { headers[2].value = signature }
        let lines = headers.map { "\($0.name): \($0.value)\r\n" }.joined()
        return "POST /webhooks/\(Fixtures.source) HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\(lines)Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
    }

    static func statusCodes(in text: String) -> [Int] {
        text.components(separatedBy: "HTTP/1.1 ").dropFirst().compactMap { Int($0.prefix(3)) }
    }
}

struct PipelinedConnectionError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
