/// Where a value sits in the JSON text: the whole text, a member of an object (its name, UTF-8), or an element of
/// an array (its index).
///
/// A member name is only valid during the call that receives it.
public enum JSONName {
    case root
    case member(UnsafeBufferPointer<UInt8>)
    case element(Int)
}

/// Receives a JSON text's values in order, as ``JSONReader`` reads them, so that a store can encode them into its
/// own format in the same pass that validates them: no tree is built in between.
///
/// Strings and names arrive as UTF-8 that the reader has validated and unescaped; a buffer is only valid during the
/// call that receives it.
public protocol JSONSink {
    mutating func openObject(_ name: JSONName)
    mutating func closeObject()
    mutating func openArray(_ name: JSONName)
    mutating func closeArray()
    mutating func string(_ name: JSONName, _ utf8: UnsafeBufferPointer<UInt8>)
    mutating func integer(_ name: JSONName, _ value: Int64)
    mutating func double(_ name: JSONName, _ value: Double)
    mutating func bool(_ name: JSONName, _ value: Bool)
    mutating func null(_ name: JSONName)
}

/// Reads one JSON text (RFC 8259) from UTF-8 bytes into a ``JSONSink``, in one pass.
///
/// The gateway's rules, beyond RFC 8259: nesting at most ``JSONValue/maximumDepth`` levels; strings valid UTF-8;
/// integers exact within Int64 (others become doubles, which must be finite); object keys not empty, without NUL and
/// unique within their object. RFC 8259 leaves the meaning of a repeated key open (parsers disagree on which value
/// counts), so such a text is refused rather than stored with a value the producer may not have meant; an empty key
/// cannot be addressed by any MongoDB query and the driver refuses it. Keys that begin with `$` or contain `.` are
/// kept as they are.
public struct JSONReader<Sink: JSONSink> {
    /// Objects of up to this many members are checked for repeated keys by a search of the names read so far.
    private static var shortObject: Int { 16 }

    /// Where a value's name is, until the sink is told.
    private enum NameReference {
        case root
        case member(Range<Int>)
        case element(Int)
    }

    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0
    private var sink: Sink
    /// Unescaped strings are built here; a string without escapes is passed from the input as it is.
    private var scratch = GrowingBytes()
    /// Where the string just read is: a range of the input, or all of `scratch` (nil).
    private var lastString: Range<Int>?
    /// The names of the objects being read, one after another; `objectStarts` has where each open object's begin.
    private var names = GrowingBytes()
    private var nameBounds: [Range<Int>] = []
    private var objectStarts: [Int] = []
    /// The names of a long object, by content, for the repeated-key check, by the object's depth among objects.
    private var longObjectNames: [Int: Set<[UInt8]>] = [:]

    /// Reads `bytes` into `sink` and returns the sink.
    /// - Throws: ``JSONParseError`` at the first byte that breaks a rule; the sink has then seen part of the text.
    public static func read(_ bytes: UnsafeBufferPointer<UInt8>, into sink: Sink) throws(JSONParseError) -> Sink {
        var reader = JSONReader(bytes: bytes, sink: sink)
        defer {
            reader.scratch.deallocate()
            reader.names.deallocate()
        }
        reader.skipWhitespace()
        try reader.readValue(.root, depth: 0)
        reader.skipWhitespace()
        guard reader.index == bytes.count else { throw reader.fail("unexpected content after the JSON value") }
        return reader.sink
    }

    private init(bytes: UnsafeBufferPointer<UInt8>, sink: Sink) {
        self.bytes = bytes
        self.sink = sink
    }

    private func fail(_ reason: String) -> JSONParseError { JSONParseError(reason: reason, offset: index, isValidJSON: false) }

    private func refuse(_ reason: String, at offset: Int) -> JSONParseError { JSONParseError(reason: reason, offset: offset, isValidJSON: true) }

    private func name(_ reference: NameReference) -> JSONName {
        switch reference {
        case .root: .root
        case .member(let range): .member(names.view(range))
        case .element(let index): .element(index)
        }
    }

    private var lastStringBytes: UnsafeBufferPointer<UInt8> {
        if let lastString { return UnsafeBufferPointer(rebasing: bytes[lastString]) }
        return scratch.view(0..<scratch.count)
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    private mutating func readValue(_ reference: NameReference, depth: Int) throws(JSONParseError) {
        guard depth < JSONValue.maximumDepth else { throw fail("nesting deeper than \(JSONValue.maximumDepth) levels") }
        guard index < bytes.count else { throw fail("unexpected end of input") }
        switch bytes[index] {
        case UInt8(ascii: "{"): try readObject(reference, depth: depth)
        case UInt8(ascii: "["): try readArray(reference, depth: depth)
        case UInt8(ascii: "\""):
            try readString()
            sink.string(name(reference), lastStringBytes)
        case UInt8(ascii: "t"):
            try expectLiteral("true")
            sink.bool(name(reference), true)
        case UInt8(ascii: "f"):
            try expectLiteral("false")
            sink.bool(name(reference), false)
        case UInt8(ascii: "n"):
            try expectLiteral("null")
            sink.null(name(reference))
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try readNumber(reference)
        default: throw fail("unexpected character")
        }
    }

    private mutating func expectLiteral(_ literal: StaticString) throws(JSONParseError) {
        let count = literal.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw fail("unexpected end of input") }
        let matches = literal.withUTF8Buffer { expected in
            (0..<count).allSatisfy { bytes[index + $0] == expected[$0] }
        }
        guard matches else { throw fail("invalid literal") }
        index += count
    }

    private mutating func readObject(_ reference: NameReference, depth: Int) throws(JSONParseError) {
        index += 1
        sink.openObject(name(reference))
        objectStarts.append(nameBounds.count)
        defer { forgetNames() }
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            sink.closeObject()
            return
        }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            let keyOffset = index
            try readString()
            let bounds = try rememberName(at: keyOffset)
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw fail("expected ':'") }
            index += 1
            skipWhitespace()
            try readValue(.member(bounds), depth: depth + 1)
            skipWhitespace()
            guard index < bytes.count else { throw fail("unexpected end of input") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            if bytes[index] == UInt8(ascii: "}") {
                index += 1
                sink.closeObject()
                return
            }
            throw fail("expected ',' or '}'")
        }
    }

    /// Records the name just read for the current object, refusing an empty, NUL-holding or repeated one.
    /// - Returns: where the name is kept in `names`.
    private mutating func rememberName(at offset: Int) throws(JSONParseError) -> Range<Int> {
        let name = lastStringBytes
        guard !name.isEmpty else { throw refuse("an object key is empty", at: offset) }
        guard !name.contains(0) else { throw fail("object keys must not contain NUL") }
        let first = objectStarts[objectStarts.count - 1]
        let repeated: Bool
        if nameBounds.count - first < Self.shortObject {
            repeated = nameBounds[first...].contains { names.view($0).elementsEqual(name) }
        } else {
            let depth = objectStarts.count
            if longObjectNames[depth] == nil { longObjectNames[depth] = Set(nameBounds[first...].map { Array(names.view($0)) }) }
            repeated = !longObjectNames[depth]!.insert(Array(name)).inserted
        }
        guard !repeated else {
            throw refuse("the key \(JSONValue.string(String(decoding: name, as: UTF8.self)).serialized) appears twice in one object", at: offset)
        }
        let bounds = names.count..<names.count + name.count
        names.append(name)
        nameBounds.append(bounds)
        return bounds
    }

    /// Drops the names of the object that ends.
    private mutating func forgetNames() {
        longObjectNames[objectStarts.count] = nil
        let first = objectStarts.removeLast()
        if first < nameBounds.count {
            names.count = nameBounds[first].lowerBound
            nameBounds.removeSubrange(first...)
        }
    }

    private mutating func readArray(_ reference: NameReference, depth: Int) throws(JSONParseError) {
        index += 1
        sink.openArray(name(reference))
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            sink.closeArray()
            return
        }
        var element = 0
        while true {
            skipWhitespace()
            try readValue(.element(element), depth: depth + 1)
            element += 1
            skipWhitespace()
            guard index < bytes.count else { throw fail("unexpected end of input") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            if bytes[index] == UInt8(ascii: "]") {
                index += 1
                sink.closeArray()
                return
            }
            throw fail("expected ',' or ']'")
        }
    }

    /// Reads a string at `index` (its opening quote), validating it, into `lastString` or `scratch`.
    private mutating func readString() throws(JSONParseError) {
        index += 1
        let start = index
        var escaped = false
        var segment = start
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                if escaped {
                    scratch.append(UnsafeBufferPointer(rebasing: bytes[segment..<index]))
                    lastString = nil
                } else {
                    lastString = start..<index
                }
                index += 1
                return
            }
            if byte < 0x20 { throw fail("control character in string") }
            if byte == UInt8(ascii: "\\") {
                if !escaped {
                    scratch.count = 0
                    escaped = true
                }
                scratch.append(UnsafeBufferPointer(rebasing: bytes[segment..<index]))
                index += 1
                try appendEscape()
                segment = index
                continue
            }
            if byte < 0x80 {
                index += 1
            } else {
                try skipMultibyteScalar()
            }
        }
        throw fail("unterminated string")
    }

    /// Checks the UTF-8 sequence at `index` (a lead byte ≥ 0x80) and moves past it: no overlong forms, no surrogates,
    /// nothing past U+10FFFF.
    private mutating func skipMultibyteScalar() throws(JSONParseError) {
        let lead = bytes[index]
        let length: Int
        var lower: UInt8 = 0x80
        var upper: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0:
            length = 3
            lower = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED:
            length = 3
            upper = 0x9F
        case 0xF0:
            length = 4
            lower = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4:
            length = 4
            upper = 0x8F
        default: throw fail("invalid UTF-8 in string")
        }
        guard index + length <= bytes.count else { throw fail("invalid UTF-8 in string") }
        let second = bytes[index + 1]
        guard second >= lower, second <= upper else { throw fail("invalid UTF-8 in string") }
        for offset in 2..<length where bytes[index + offset] & 0xC0 != 0x80 {
            throw fail("invalid UTF-8 in string")
        }
        index += length
    }

    private mutating func appendEscape() throws(JSONParseError) {
        guard index < bytes.count else { throw fail("unterminated escape") }
        let escape = bytes[index]
        index += 1
        switch escape {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scratch.append(escape)
        case UInt8(ascii: "b"): scratch.append(0x08)
        case UInt8(ascii: "f"): scratch.append(0x0C)
        case UInt8(ascii: "n"): scratch.append(0x0A)
        case UInt8(ascii: "r"): scratch.append(0x0D)
        case UInt8(ascii: "t"): scratch.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = try readHexQuad()
            if (0xD800..<0xDC00).contains(scalar) {
                guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u")
                else { throw fail("unpaired surrogate") }
                index += 2
                let low = try readHexQuad()
                guard (0xDC00..<0xE000).contains(low) else { throw fail("unpaired surrogate") }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00..<0xE000).contains(scalar) {
                throw fail("unpaired surrogate")
            }
            guard let unicode = Unicode.Scalar(scalar) else { throw fail("invalid unicode escape") }
            for byte in UTF8.encode(unicode)! { scratch.append(byte) }
        default:
            throw fail("invalid escape")
        }
    }

    private mutating func readHexQuad() throws(JSONParseError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw fail("truncated unicode escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw fail("invalid hex digit in unicode escape")
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    private mutating func readNumber(_ reference: NameReference) throws(JSONParseError) {
        let start = index
        var isInteger = true
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count, isDigit(bytes[index]) else { throw fail("invalid number") }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else {
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            isInteger = false
            index += 1
            guard index < bytes.count, isDigit(bytes[index]) else { throw fail("invalid number") }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            isInteger = false
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard index < bytes.count, isDigit(bytes[index]) else { throw fail("invalid number") }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if isInteger, let integer = exactInteger(start..<index) {
            sink.integer(name(reference), integer)
            return
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        guard let double = Double(text), double.isFinite else { throw fail("number out of range") }
        sink.double(name(reference), double)
    }

    /// The integer the digits in `range` (with an optional leading minus) spell, or nil beyond Int64.
    private func exactInteger(_ range: Range<Int>) -> Int64? {
        var position = range.lowerBound
        let negative = bytes[position] == UInt8(ascii: "-")
        if negative { position += 1 }
        var value: Int64 = 0
        while position < range.upperBound {
            let digit = Int64(bytes[position] - UInt8(ascii: "0"))
            let (shifted, overflowed) = value.multipliedReportingOverflow(by: 10)
            guard !overflowed else { return nil }
            let (next, overflowedAgain) = negative ? shifted.subtractingReportingOverflow(digit) : shifted.addingReportingOverflow(digit)
            guard !overflowedAgain else { return nil }
            value = next
            position += 1
        }
        return value
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
}

/// Bytes that grow as they are appended to, in memory the reader frees itself: a view of them can be handed to the
/// sink while the reader goes on, without Swift's exclusive-access rules in the way.
private struct GrowingBytes {
    private var base: UnsafeMutablePointer<UInt8>?
    private var capacity = 0
    var count = 0

    mutating func append(_ byte: UInt8) {
        reserve(count + 1)
        base![count] = byte
        count += 1
    }

    mutating func append(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let source = bytes.baseAddress, !bytes.isEmpty else { return }
        reserve(count + bytes.count)
        (base! + count).update(from: source, count: bytes.count)
        count += bytes.count
    }

    func view(_ range: Range<Int>) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: base.map { $0 + range.lowerBound }, count: range.count)
    }

    func deallocate() { base?.deallocate() }

    private mutating func reserve(_ needed: Int) {
        guard needed > capacity else { return }
        let grown = max(needed, capacity * 2, 64)
        let storage = UnsafeMutablePointer<UInt8>.allocate(capacity: grown)
        if let base {
            storage.update(from: base, count: count)
            base.deallocate()
        }
        base = storage
        capacity = grown
    }
}
