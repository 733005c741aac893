import Foundation
import GatewayCore
import GatewayTestSupport
import PropertyBased
import Testing

/// Whatever a producer, or an attacker, sends: the signature headers and the JSON body are parsed without a crash,
/// and every refusal says why. Inputs are random, with seeds PropertyBased reports on a failure.
@Suite("Hostile input: the signature headers and the JSON body")
struct HostileInputTests {
    private let key = EventKey(source: "s", eventId: "e")
    private let now = Date(timeIntervalSince1970: 1_800_000_000)
    private let secret = WebhookSecret(key: Array("a hostile-input test key".utf8))

    // MARK: JSON

    @Test func randomBytesParseOrAreRefusedWithAnOffset() async {
        await propertyCheck(count: 500, input: HostileJSON.bytes) { bytes in
            do {
                _ = try JSONValue(parsing: bytes)
            } catch let error as JSONParseError {
                #expect((0...bytes.count).contains(error.offset))
            }
        }
    }

    @Test func generatedObjectsSurviveSerializationUnchanged() async {
        await propertyCheck(count: 300, input: HostileJSON.object) { value in
            let text = value.serialized
            let parsed = try JSONValue(parsing: Array(text.utf8))
            #expect(parsed == value, "\(text)")
        }
    }

    /// Valid JSON with bytes flipped, dropped or inserted: stored as an event, or refused as a payload.
    @Test func mutatedBodiesBecomeAnEventOrAPayloadError() async {
        await propertyCheck(count: 500, input: HostileJSON.mutatedObject) { body in
            do {
                let event = try NewEvent(key: key, body: body, receivedAt: now, encoder: JSONTextPayloadEncoder())
                guard case .object = try JSONValue(parsing: event.payload.bytes) else {
                    Issue.record("a payload that is not an object was accepted")
                    return
                }
            } catch let error as PayloadError {
                #expect(
                    error.reason.hasPrefix("body is not valid JSON") || error.reason.hasPrefix("body cannot be stored")
                        || error.reason == "body must be a JSON object")
            }
        }
    }

    @Test func nestingIsAcceptedUpToTheLimitAndRefusedBeyond() async {
        await propertyCheck(count: 100, input: Gen.int(in: 1...200), Gen.bool) { depth, useObjects in
            let (open, close) = useObjects ? (#"{"k":"#, "}") : ("[", "]")
            let text = String(repeating: open, count: depth) + "1" + String(repeating: close, count: depth)
            let parsed = (try? JSONValue(parsing: Array(text.utf8))) != nil
            #expect(parsed == (depth < JSONValue.maximumDepth), "depth \(depth)")
        }
    }

    @Test func numbersOfAnySizeAreExactIntegersFiniteDoublesOrRefused() async {
        await propertyCheck(count: 500, input: HostileJSON.number) { text in
            switch Result<JSONValue, JSONParseError>(catching: { () throws(JSONParseError) in try JSONValue(parsing: Array(text.utf8)) }) {
            case .success(.integer(let integer)): #expect(String(integer) == text || Int64(text) == integer)
            case .success(.double(let double)): #expect(double.isFinite)
            case .success(let other): Issue.record("\(text) parsed as \(other)")
            case .failure(let error):
                // A leading zero ends a number, and the digits after it are left over.
                let reasons = ["number out of range", "invalid number", "unexpected content after the JSON value"]
                #expect(reasons.contains(error.reason), "\(text): \(error)")
            }
        }
    }

    @Test func aRepeatedKeyIsRefusedWhereverItIs() async {
        await propertyCheck(count: 200, input: HostileJSON.object, Gen.int(in: 0...1_000)) { value, pick in
            guard let repeated = value.withARepeatedKey(pick: pick) else { return }
            let error = #expect(throws: JSONParseError.self) { try JSONValue(parsing: Array(repeated.utf8)) }
            #expect(error?.isValidJSON == true)
            #expect(error?.reason.contains("appears twice") == true, "\(repeated)")
        }
    }

    @Test func invalidUTF8InAStringIsRefused() async {
        await propertyCheck(count: 200, input: Gen<UInt8>.value(in: 0x80...0xFF).array(of: 1...4)) { invalid in
            let bytes = Array(#"{"a":""#.utf8) + invalid + Array(#""}"#.utf8)
            guard String(validating: invalid, as: UTF8.self) == nil else { return }
            #expect(throws: JSONParseError.self) { try JSONValue(parsing: bytes) }
        }
    }

    // MARK: Signature headers

    @Test func randomSignatureHeadersAreRefusedNeverAccepted() async {
        await propertyCheck(count: 200, input: HostileSignature.header) { header in
            let body = Array(#"{"a":1}"#.utf8)
            let headers = SignedHeaders(id: "evt-1", timestamp: String(Int64(now.timeIntervalSince1970)), signature: header)
            #expect(throws: SignatureError.self) { try SignatureVerifier().verify(headers, body: body, secrets: [secret], now: now) }
        }
    }

    @Test func randomIdsAndTimestampsAreRefusedWithAReason() async {
        await propertyCheck(count: 300, input: HostileSignature.text, HostileSignature.text) { id, timestamp in
            let body = Array(#"{"a":1}"#.utf8)
            let signature = WebhookSignature.sign(id: id, timestamp: Int64(now.timeIntervalSince1970), body: body, secret: secret)
            let headers = SignedHeaders(id: id, timestamp: timestamp, signature: signature)
            do {
                _ = try SignatureVerifier().verify(headers, body: body, secrets: [secret], now: now)
                // Only a timestamp that reads as now's may pass, with the id it was signed with.
                #expect(Int64(timestamp.trimmingCharacters(in: .whitespaces)) == Int64(now.timeIntervalSince1970))
            } catch let error as SignatureError {
                #expect(!error.reason.isEmpty)
            }
        }
    }

    /// The one valid entry, hidden among thousands of others of every shape, is still found.
    @Test func aValidSignatureAmongThousandsOfEntriesIsFound() async {
        await propertyCheck(count: 20, input: HostileSignature.header, Gen.int(in: 0...3_000)) { noise, position in
            let body = Array(#"{"a":1}"#.utf8)
            let timestamp = Int64(now.timeIntervalSince1970)
            var entries = Array(repeating: "v1,AAAA", count: 3_000) + noise.split(separator: " ").map(String.init)
            entries.insert(WebhookSignature.sign(id: "evt-1", timestamp: timestamp, body: body, secret: secret), at: min(position, entries.count))
            let headers = SignedHeaders(id: "evt-1", timestamp: String(timestamp), signature: entries.joined(separator: " "))
            let eventId = try SignatureVerifier().verify(headers, body: body, secrets: [secret], now: now)
            #expect(eventId == "evt-1")
        }
    }
}
