public import Foundation

/// The fields the gateway reads from the top level of a payload: they are copied beside it in the inbox.
public struct PayloadFields: Sendable, Equatable {
    /// `type`, when it is a string (e.g. `shipment.status_updated`).
    public var type: String?
    /// `shipmentId`, when it is a string; the worker reads the shipment by it.
    public var shipmentId: String?
    /// `occurredAt`, when it is an ISO 8601 instant; orders shipment updates.
    public var occurredAt: Date?

    public init(type: String? = nil, shipmentId: String? = nil, occurredAt: Date? = nil) {
        self.type = type
        self.shipmentId = shipmentId
        self.occurredAt = occurredAt
    }
}

/// A payload, validated and encoded into the bytes its store keeps, in one pass over the body (``PayloadReader``).
public struct EncodedPayload: Sendable, Equatable {
    /// The store's name for its encoding (`bson`, `json`): a store refuses a payload encoded for another.
    public let encoding: String
    /// The payload as the store writes it.
    public let bytes: [UInt8]

    public init(encoding: String, bytes: [UInt8]) {
        self.encoding = encoding
        self.bytes = bytes
    }
}

/// How an inbox encodes payloads: it reads the JSON body once, with ``PayloadReader``, into a sink of its own that
/// writes its format, so that validation and encoding are one pass without a tree in between.
public protocol PayloadEncoder: Sendable {
    /// Validates `body` and encodes it.
    /// - Throws: ``PayloadError`` when the body is not a JSON object the gateway accepts.
    func encode(_ body: UnsafeBufferPointer<UInt8>) throws(PayloadError) -> (fields: PayloadFields, payload: EncodedPayload)
}

/// Reads a payload: the body must be a JSON object (``JSONReader``'s rules); its top-level fields are noted on the way.
public enum PayloadReader {
    /// Reads `body` into `sink`.
    /// - Returns: the sink, and the payload's top-level fields.
    /// - Throws: ``PayloadError`` saying why the body is not acceptable.
    public static func read<Sink: JSONSink>(_ body: UnsafeBufferPointer<UInt8>, into sink: Sink) throws(PayloadError) -> (
        sink: Sink, fields: PayloadFields
    ) {
        let noting: FieldNotingSink<Sink>
        do {
            noting = try JSONReader.read(body, into: FieldNotingSink(inner: sink))
        } catch {
            throw PayloadError(reason: error.isValidJSON ? "body cannot be stored: \(error)" : "body is not valid JSON: \(error)")
        }
        guard noting.rootIsObject else { throw PayloadError(reason: "body must be a JSON object") }
        return (noting.inner, noting.fields)
    }
}

/// Passes every value on, noting the top-level `type`, `shipmentId` and `occurredAt` strings.
private struct FieldNotingSink<Inner: JSONSink>: JSONSink {
    var inner: Inner
    var fields = PayloadFields()
    var rootIsObject = false
    private var depth = 0

    init(inner: Inner) {
        self.inner = inner
    }

    mutating func openObject(_ name: JSONName) {
        if depth == 0 { rootIsObject = true }
        depth += 1
        inner.openObject(name)
    }

    mutating func closeObject() {
        depth -= 1
        inner.closeObject()
    }

    mutating func openArray(_ name: JSONName) {
        depth += 1
        inner.openArray(name)
    }

    mutating func closeArray() {
        depth -= 1
        inner.closeArray()
    }

    mutating func string(_ name: JSONName, _ utf8: UnsafeBufferPointer<UInt8>) {
        if depth == 1, case .member(let key) = name {
            if key.elementsEqual("type".utf8) {
                fields.type = String(decoding: utf8, as: UTF8.self)
            } else if key.elementsEqual("shipmentId".utf8) {
                fields.shipmentId = String(decoding: utf8, as: UTF8.self)
            } else if key.elementsEqual("occurredAt".utf8) {
                fields.occurredAt = Self.instant(String(decoding: utf8, as: UTF8.self))
            }
        }
        inner.string(name, utf8)
    }

    mutating func integer(_ name: JSONName, _ value: Int64) { inner.integer(name, value) }
    mutating func double(_ name: JSONName, _ value: Double) { inner.double(name, value) }
    mutating func bool(_ name: JSONName, _ value: Bool) { inner.bool(name, value) }
    mutating func null(_ name: JSONName) { inner.null(name) }

    private static func instant(_ text: String) -> Date? {
        (try? Date(text, strategy: .iso8601))
            ?? (try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
    }
}

/// Reads a JSON text and keeps nothing: the rules alone, for a store that keeps the body as it came.
public struct ValidatingSink: JSONSink {
    public init() {}
    public mutating func openObject(_ name: JSONName) {}
    public mutating func closeObject() {}
    public mutating func openArray(_ name: JSONName) {}
    public mutating func closeArray() {}
    public mutating func string(_ name: JSONName, _ utf8: UnsafeBufferPointer<UInt8>) {}
    public mutating func integer(_ name: JSONName, _ value: Int64) {}
    public mutating func double(_ name: JSONName, _ value: Double) {}
    public mutating func bool(_ name: JSONName, _ value: Bool) {}
    public mutating func null(_ name: JSONName) {}
}

/// Why a body cannot become an event.
public struct PayloadError: Error, Equatable, CustomStringConvertible {
    /// What was wrong with the body.
    public let reason: String
    public var description: String { reason }
}
