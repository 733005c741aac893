public import Foundation
public import GatewayCore
public import PropertyBased

/// Random JSON, valid or not.
public enum HostileJSON {
    /// Raw bytes of up to 512, biased towards JSON's own punctuation so that parsing gets somewhere.
    public static let bytes = Generator<[UInt8], Shrink.None<[UInt8]>> { rng in
        let alphabet = Array(#"{}[]":,\ 0123456789.eE+-truefalsn"#.utf8) + [0x00, 0x1F, 0x7F, 0x80, 0xC3, 0xA9, 0xED, 0xA0, 0xFF]
        return (0..<Int.random(in: 0...512, using: &rng)).map { _ in
            Bool.random(using: &rng) ? alphabet.randomElement(using: &rng)! : UInt8.random(in: 0...255, using: &rng)
        }
    }

    /// Objects up to five levels deep, with unique non-empty keys (some `$`-prefixed or dotted), strings of any
    /// scalars (control characters, quotes, non-ASCII, astral), integers at both ends of Int64 and doubles.
    public static let object = Generator<JSONValue, Shrink.None<JSONValue>> { rng in
        randomObject(depth: 0, using: &rng)
    }

    /// A generated object's text with a few bytes flipped, dropped or inserted.
    public static let mutatedObject = Generator<[UInt8], Shrink.None<[UInt8]>> { rng in
        var bytes = Array(randomObject(depth: 0, using: &rng).serialized.utf8)
        for _ in 0..<Int.random(in: 1...4, using: &rng) where !bytes.isEmpty {
            let index = Int.random(in: 0..<bytes.count, using: &rng)
            switch Int.random(in: 0...2, using: &rng) {
            case 0: bytes[index] = UInt8.random(in: 0...255, using: &rng)
            case 1: bytes.remove(at: index)
            default: bytes.insert(UInt8.random(in: 0...255, using: &rng), at: index)
            }
        }
        return bytes
    }

    /// Number texts of every length and form, well-formed or not.
    public static let number = Generator<String, Shrink.None<String>> { rng in
        let digits = { (count: Int, rng: inout any SeededRandomNumberGenerator) in
            String((0..<count).map { _ in Character(String(Int.random(in: 0...9, using: &rng))) })
        }
        var text = Bool.random(using: &rng) ? "-" : ""
        text += digits(Int.random(in: 1...400, using: &rng), &rng)
        if Bool.random(using: &rng) { text += "." + digits(Int.random(in: 0...30, using: &rng), &rng) }
        if Bool.random(using: &rng) {
            text +=
                ["e", "E"].randomElement(using: &rng)! + ["", "+", "-"].randomElement(using: &rng)! + digits(Int.random(in: 0...5, using: &rng), &rng)
        }
        return text
    }

    private static func randomObject(depth: Int, using rng: inout any SeededRandomNumberGenerator) -> JSONValue {
        var keys: [String] = []
        for index in 0..<Int.random(in: 0...(depth > 3 ? 2 : 20), using: &rng) {
            let key = [randomString(using: &rng), "$ref", "a.b", "k\(index)"].randomElement(using: &rng)!
            // NUL is refused in keys (BSON keys are C strings), and so are empty and repeated keys.
            if !key.isEmpty, !key.unicodeScalars.contains("\u{0}"), !keys.contains(key) { keys.append(key) }
        }
        return .object(keys.map { ($0, randomValue(depth: depth + 1, using: &rng)) })
    }

    private static func randomValue(depth: Int, using rng: inout any SeededRandomNumberGenerator) -> JSONValue {
        switch Int.random(in: 0...(depth > 4 ? 5 : 7), using: &rng) {
        case 0: .null
        case 1: .bool(Bool.random(using: &rng))
        case 2: .integer([Int64.min, Int64.max, 0, -1, Int64.random(in: .min ... .max, using: &rng)].randomElement(using: &rng)!)
        case 3: .double([0.1, -2.5e300, 1e-300, 12_345.0, Double.random(in: -1e20...1e20, using: &rng)].randomElement(using: &rng)!)
        case 4, 5: .string(randomString(using: &rng))
        case 6: .array((0..<Int.random(in: 0...5, using: &rng)).map { _ in randomValue(depth: depth + 1, using: &rng) })
        default: randomObject(depth: depth, using: &rng)
        }
    }

    private static func randomString(using rng: inout any SeededRandomNumberGenerator) -> String {
        let pools: [ClosedRange<UInt32>] = [0x00...0x1F, 0x20...0x7E, 0x80...0x7FF, 0x800...0xD7FF, 0xE000...0xFFFD, 0x1_0000...0x10_FFFF]
        var scalars = String.UnicodeScalarView()
        for _ in 0..<Int.random(in: 0...12, using: &rng) {
            let pool = pools.randomElement(using: &rng)!
            scalars.append(Unicode.Scalar(UInt32.random(in: pool, using: &rng))!)
        }
        return String(scalars)
    }
}

extension JSONValue {
    /// The object's text with one of its keys written a second time in the same object, or nil when it has no key.
    public func withARepeatedKey(pick: Int) -> String? {
        guard case .object(let members) = self, !members.isEmpty else { return nil }
        let member = members[pick % members.count]
        return JSONValue.object(members + [(member.key, .null)]).serialized
    }
}

/// Random signature headers and header values.
public enum HostileSignature {
    /// Text of any scalars, including spaces, commas and control characters, up to 200 of them.
    public static let text = Generator<String, Shrink.None<String>> { rng in
        var scalars = String.UnicodeScalarView()
        for _ in 0..<Int.random(in: 0...200, using: &rng) {
            let value = Bool.random(using: &rng) ? UInt32.random(in: 0x20...0x7E, using: &rng) : UInt32.random(in: 0...0xD7FF, using: &rng)
            scalars.append(Unicode.Scalar(value)!)
        }
        return String(scalars)
    }

    /// A `webhook-signature` header that holds no valid signature: random text, thousands of entries, other
    /// versions, and base64 that is invalid, of the wrong length or, once, huge. Within the 80 KB the HTTP decoder
    /// lets a request's headers take.
    public static let header = Generator<String, Shrink.None<String>> { rng in
        var entries: [String] = []
        for _ in 0..<Int.random(in: 0...(Bool.random(using: &rng) ? 5 : 1_500), using: &rng) {
            let bytes = (0..<Int.random(in: 0...32, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            switch Int.random(in: 0...4, using: &rng) {
            case 0: entries.append("v1," + Data(bytes).base64EncodedString())
            case 1: entries.append("v1,@@not*base64==")
            case 2: entries.append("v2," + Data(bytes).base64EncodedString())
            case 3: entries.append(",")
            default: entries.append(String(decoding: bytes, as: UTF8.self))
            }
        }
        if Bool.random(using: &rng) { entries.append("v1," + String(repeating: "A", count: Int.random(in: 0...40_000, using: &rng))) }
        return entries.joined(separator: " ")
    }
}
