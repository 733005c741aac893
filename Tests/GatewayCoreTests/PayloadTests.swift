import Foundation
import GatewayCore
import GatewayTestSupport
import Testing

@Suite("Payload parsing")
struct PayloadTests {
    let key = EventKey(source: "s", eventId: "e")
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func anObjectBecomesAnEventWithItsIndexedFields() throws {
        let body = #"{"type":"shipment.status_updated","shipmentId":"SHP-000123","occurredAt":"2026-11-24T10:00:00Z","data":{"n":1}}"#
        let event = try NewEvent(key: key, body: Array(body.utf8), receivedAt: now, encoder: JSONTextPayloadEncoder())
        #expect(event.type == "shipment.status_updated")
        #expect(event.shipmentId == "SHP-000123")
        #expect(event.occurredAt == Date(timeIntervalSince1970: 1_795_514_400))
        #expect(try JSONValue(parsing: event.payload.bytes)["data"] == .object([("n", .integer(1))]))
    }

    @Test func fractionalSecondsInOccurredAtAreUnderstood() throws {
        let body = #"{"occurredAt":"2026-11-24T10:00:00.250Z"}"#
        let event = try NewEvent(key: key, body: Array(body.utf8), receivedAt: now, encoder: JSONTextPayloadEncoder())
        #expect(event.occurredAt == Date(timeIntervalSince1970: 1_795_514_400.25))
    }

    @Test(arguments: [#"[1,2]"#, #""text""#, "42", "null", "", "{", #"{"a":1}x"#, #"{"a":01}"#, #"{'a':1}"#])
    func anythingButAJSONObjectIsRejected(body: String) {
        #expect(throws: PayloadError.self) { try NewEvent(key: key, body: Array(body.utf8), receivedAt: now, encoder: JSONTextPayloadEncoder()) }
    }

    @Test func keyOrderNumbersAndEscapesAreKept() throws {
        let value = try JSONValue(
            parsing: Array(#"{"z":1,"a":1.5,"big":9223372036854775807,"e":1e3,"s":"\u00e9\ud83d\ude00\n","t":[true,false,null]}"#.utf8))
        guard case .object(let members) = value else {
            Issue.record("not an object")
            return
        }
        #expect(members.map(\.key) == ["z", "a", "big", "e", "s", "t"])
        #expect(value["z"] == .integer(1))
        #expect(value["a"] == .double(1.5))
        #expect(value["big"] == .integer(Int64.max))
        #expect(value["e"] == .double(1000))
        #expect(value["s"] == .string("é😀\n"))
        #expect(value["t"] == .array([.bool(true), .bool(false), .null]))
    }

    @Test func dangerousInputIsRejectedNotCrashedOn() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: Array(deep.utf8)) }
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: Array(#"{"a\u0000b":1}"#.utf8)) }
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: Array(#"{"a":"\ud800"}"#.utf8)) }
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: [0x7B, 0x22, 0xFF, 0x22, 0x3A, 0x31, 0x7D]) }
    }

    @Test(arguments: [#"{"":1}"#, #"{"a":{"b":[{"":null}]}}"#])
    func anEmptyKeyAnywhereIsRefusedWithTheReason(body: String) throws {
        let error = try #require(throws: PayloadError.self) {
            try NewEvent(key: key, body: Array(body.utf8), receivedAt: now, encoder: JSONTextPayloadEncoder())
        }
        #expect(error.reason.hasPrefix("body cannot be stored: an object key is empty at byte"))
    }

    /// RFC 8259 leaves a repeated key's meaning open, so no value is picked: the body is refused, in short objects
    /// (searched) and long ones (hashed) alike.
    @Test(arguments: [#"{"a":1,"b":2,"a":3}"#, "{" + (0..<40).map { #""k\#($0)":\#($0)"# }.joined(separator: ",") + #","k39":0}"#])
    func aRepeatedKeyIsRefusedWithTheReason(body: String) throws {
        let error = try #require(throws: PayloadError.self) {
            try NewEvent(key: key, body: Array(body.utf8), receivedAt: now, encoder: JSONTextPayloadEncoder())
        }
        #expect(error.reason.contains("appears twice in one object"))
    }

    @Test func theSameKeyInDifferentObjectsIsFine() throws {
        let value = try JSONValue(parsing: Array(#"{"a":{"a":1},"b":[{"a":2},{"a":3}]}"#.utf8))
        #expect(value["a"] == .object([("a", .integer(1))]))
    }

    @Test func dollarAndDottedKeysAreKeptAsWritten() throws {
        let value = try JSONValue(parsing: Array(#"{"$ref":"x","meta":{"order.id":"O-1","$numberLong":"7"}}"#.utf8))
        #expect(value["$ref"] == .string("x"))
        #expect(value["meta"] == .object([("order.id", .string("O-1")), ("$numberLong", .string("7"))]))
    }
}
