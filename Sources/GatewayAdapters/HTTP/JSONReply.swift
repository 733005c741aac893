import GatewayCore
import HTTPTypes
import Hummingbird
import NIOCore

/// A small JSON reply built without an encoder: the ingest path answers thousands of them a second. It is
/// sent as a Hummingbird ``Response`` or, by ``IngestHandler``, straight onto the channel.
struct JSONReply {
    var status: HTTPResponse.Status
    var headers: HTTPFields
    var body: ByteBuffer

    /// A reply whose body is a flat JSON object of strings.
    init(_ status: HTTPResponse.Status, _ fields: [(String, String)], headers: HTTPFields = [:]) {
        self.status = status
        self.headers = headers
        self.headers[.contentType] = "application/json"
        body = ByteBuffer(string: JSONValue.object(fields.map { ($0.0, .string($0.1)) }).serialized)
    }

    /// An error reply `{"error": code, "message": …}`.
    static func error(_ status: HTTPResponse.Status, code: String, message: String, retryAfterSeconds: Int? = nil) -> JSONReply {
        var headers: HTTPFields = [:]
        if let retryAfterSeconds { headers[.retryAfter] = String(retryAfterSeconds) }
        return JSONReply(status, [("error", code), ("message", message)], headers: headers)
    }

    /// The reply as a Hummingbird response.
    var response: Response {
        Response(status: status, headers: headers, body: ResponseBody(byteBuffer: body))
    }
}
