import GatewayCore
import HTTPTypes
import Hummingbird
import NIOCore

/// Small JSON replies built without an encoder: the ingest path answers thousands of them a second.
enum JSONResponse {
    /// A reply whose body is a flat JSON object of strings.
    static func make(_ status: HTTPResponse.Status, _ fields: [(String, String)], headers: HTTPFields = [:]) -> Response {
        let body = JSONValue.object(fields.map { ($0.0, .string($0.1)) }).serialized
        var allHeaders = headers
        allHeaders[.contentType] = "application/json"
        return Response(status: status, headers: allHeaders, body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }

    /// An error reply `{"error": code, "message": …}`.
    static func error(_ status: HTTPResponse.Status, code: String, message: String, retryAfterSeconds: Int? = nil) -> Response {
        var headers: HTTPFields = [:]
        if let retryAfterSeconds { headers[.retryAfter] = String(retryAfterSeconds) }
        return make(status, [("error", code), ("message", message)], headers: headers)
    }
}
