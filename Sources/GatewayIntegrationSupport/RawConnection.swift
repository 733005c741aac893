import Foundation
import Glibc

/// A bare TCP connection to the api, for what an HTTP client library would not do: pipelining, stalling
/// mid-request, holding a connection open. Its blocking reads run on a Dispatch thread, never on the
/// cooperative pool that the api under test also runs on.
public final class RawConnection: @unchecked Sendable {
    private let socket: Int32

    /// Connects to the api on `port`.
    public init(port: Int) throws {
        socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw TestSupportError("socket failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(socket)
            throw TestSupportError("connect to port \(port) failed")
        }
    }

    deinit { close(socket) }

    /// Sends `text` as it is.
    public func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        guard Glibc.send(socket, bytes, bytes.count, Int32(MSG_NOSIGNAL)) == bytes.count else { throw TestSupportError("send failed") }
    }

    /// Closes the sending side only, as a client does that has nothing more to send but waits for its replies.
    public func finishSending() throws {
        guard shutdown(socket, Int32(SHUT_WR)) == 0 else { throw TestSupportError("shutdown failed") }
    }

    /// What the server sent until it closed the connection, `until` held, or `timeout` passed; and whether it closed.
    public func receive(timeout: Duration, until done: @escaping @Sendable (String) -> Bool = { _ in false }) async -> (text: String, closed: Bool) {
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
