import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Small JSON replies built without an encoder: the ingest path answers thousands of them a second.
enum JSONResponse {
    /// A reply whose body is a flat JSON object of strings.
    static func make(_ status: HTTPResponse.Status, _ fields: [(String, String)], headers: HTTPFields = [:]) -> Response {
        var body = "{"
        for (index, field) in fields.enumerated() {
            if index > 0 { body += "," }
            body += "\"\(escape(field.0))\":\"\(escape(field.1))\""
        }
        body += "}"
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

    private static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": escaped += "\\\""
            case "\\": escaped += "\\\\"
            case "\n": escaped += "\\n"
            case "\r": escaped += "\\r"
            case "\t": escaped += "\\t"
            case _ where scalar.value < 0x20: escaped += String(format: "\\u%04x", scalar.value)
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        return escaped
    }
}
