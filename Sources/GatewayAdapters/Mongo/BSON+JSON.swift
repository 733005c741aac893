import Foundation
public import GatewayCore

extension JSONValue {
    /// The JSON form of stored values: dates become ISO 8601 strings with milliseconds, ObjectIds hex strings.
    public init(_ bson: BSON) {
        switch bson {
        case .document(let document): self = .object(document.fields.map { ($0.key, JSONValue($0.value)) })
        case .array(let elements): self = .array(elements.map { JSONValue($0) })
        case .string(let value), .objectId(let value): self = .string(value)
        case .int32(let value): self = .integer(Int64(value))
        case .int64(let value): self = .integer(value)
        case .double(let value): self = .double(value)
        case .bool(let value): self = .bool(value)
        case .date(let value): self = .string(OperatorJSON.timestamp(value))
        case .null, .unsupported: self = .null
        }
    }
}
