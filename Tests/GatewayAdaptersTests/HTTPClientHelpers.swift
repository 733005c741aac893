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
