/// A parsed JSON value that keeps object keys in their original order and integers exact.
///
/// Payloads are stored as documents that auditors query, so the gateway parses them itself rather than
/// through a parser that reinterprets `$`-keys (extended JSON) or loses the difference between 1 and 1.0.
public indirect enum JSONValue: Sendable, Equatable {
    case object([(key: String, value: JSONValue)])
    case array([JSONValue])
    case string(String)
    case integer(Int64)
    case double(Double)
    case bool(Bool)
    case null

    /// The member `key` of an object, or nil.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    /// The value when it is a string.
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.object(let l), .object(let r)):
            l.count == r.count && zip(l, r).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case (.array(let l), .array(let r)): l == r
        case (.string(let l), .string(let r)): l == r
        case (.integer(let l), .integer(let r)): l == r
        case (.double(let l), .double(let r)): l == r
        case (.bool(let l), .bool(let r)): l == r
        case (.null, .null): true
        default: false
        }
    }
}

/// Why a body is not acceptable JSON, with the byte offset where parsing stopped.
public struct JSONParseError: Error, Equatable, CustomStringConvertible {
    /// What was wrong.
    public let reason: String
    /// The byte offset in the input.
    public let offset: Int
    /// Whether the input is valid JSON that the gateway refuses to store (an empty or repeated key), rather than
    /// invalid JSON.
    public let isValidJSON: Bool

    public var description: String { "\(reason) at byte \(offset)" }
}

extension JSONValue {
    /// The deepest nesting accepted; deeper input is rejected rather than risking the stack.
    public static let maximumDepth = 64

    /// Parses one JSON text (RFC 8259) from UTF-8 bytes, by the rules of ``JSONReader``.
    /// - Throws: ``JSONParseError`` for invalid JSON, trailing content, an empty, repeated or NUL-holding key, or
    ///   nesting past ``maximumDepth``.
    public init(parsing bytes: some Collection<UInt8>) throws(JSONParseError) {
        let text = Array(bytes)
        let builder = try text.withUnsafeBufferPointer { (text) throws(JSONParseError) in try JSONReader.read(text, into: JSONTreeBuilder()) }
        self = builder.result ?? .null
    }
}

/// Builds a ``JSONValue`` from what the reader reads.
private struct JSONTreeBuilder: JSONSink {
    private enum Container {
        case object([(key: String, value: JSONValue)])
        case array([JSONValue])
    }

    private var open: [(name: OwnedName, container: Container)] = []
    private(set) var result: JSONValue?

    mutating func openObject(_ name: JSONName) { open.append((OwnedName(name), .object([]))) }
    mutating func openArray(_ name: JSONName) { open.append((OwnedName(name), .array([]))) }

    mutating func closeObject() { close() }
    mutating func closeArray() { close() }

    mutating func string(_ name: JSONName, _ utf8: UnsafeBufferPointer<UInt8>) {
        add(.string(String(decoding: utf8, as: UTF8.self)), as: OwnedName(name))
    }
    mutating func integer(_ name: JSONName, _ value: Int64) { add(.integer(value), as: OwnedName(name)) }
    mutating func double(_ name: JSONName, _ value: Double) { add(.double(value), as: OwnedName(name)) }
    mutating func bool(_ name: JSONName, _ value: Bool) { add(.bool(value), as: OwnedName(name)) }
    mutating func null(_ name: JSONName) { add(.null, as: OwnedName(name)) }

    private mutating func close() {
        let (name, container) = open.removeLast()
        switch container {
        case .object(let members): add(.object(members), as: name)
        case .array(let elements): add(.array(elements), as: name)
        }
    }

    private mutating func add(_ value: JSONValue, as name: OwnedName) {
        guard !open.isEmpty else {
            result = value
            return
        }
        switch (open[open.count - 1].container, name) {
        case (.object(var members), .member(let key)):
            members.append((key, value))
            open[open.count - 1].container = .object(members)
        case (.array(var elements), _):
            elements.append(value)
            open[open.count - 1].container = .array(elements)
        default:
            break
        }
    }

    /// A name that outlives the call it came with.
    private enum OwnedName {
        case root
        case member(String)
        case element(Int)

        init(_ name: JSONName) {
            switch name {
            case .root: self = .root
            case .member(let utf8): self = .member(String(decoding: utf8, as: UTF8.self))
            case .element(let index): self = .element(index)
            }
        }
    }
}

extension JSONValue {
    /// The value as compact JSON text.
    public var serialized: String {
        var output = ""
        write(to: &output, indent: nil)
        return output
    }

    /// The value as JSON text for people: two spaces per level, one member or element per line.
    public var pretty: String {
        var output = ""
        write(to: &output, indent: "")
        return output
    }

    /// Writes compact JSON when `indent` is nil, else JSON indented from `indent`.
    private func write(to output: inout String, indent: String?) {
        let inner = indent.map { $0 + "  " }
        switch self {
        case .object(let members):
            guard !members.isEmpty else {
                output += "{}"
                return
            }
            output += "{"
            for (index, member) in members.enumerated() {
                if index > 0 { output += "," }
                if let inner { output += "\n" + inner }
                JSONValue.string(member.key).write(to: &output, indent: nil)
                output += indent == nil ? ":" : ": "
                member.value.write(to: &output, indent: inner)
            }
            if let indent { output += "\n" + indent }
            output += "}"
        case .array(let elements):
            guard !elements.isEmpty else {
                output += "[]"
                return
            }
            output += "["
            for (index, element) in elements.enumerated() {
                if index > 0 { output += "," }
                if let inner { output += "\n" + inner }
                element.write(to: &output, indent: inner)
            }
            if let indent { output += "\n" + indent }
            output += "]"
        case .string(let string):
            output += "\""
            // Most strings need no escaping; appending them whole is far cheaper than scalar by scalar.
            guard string.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else {
                output += string
                output += "\""
                return
            }
            for scalar in string.unicodeScalars {
                switch scalar {
                case "\"": output += "\\\""
                case "\\": output += "\\\\"
                case "\n": output += "\\n"
                case "\r": output += "\\r"
                case "\t": output += "\\t"
                case _ where scalar.value < 0x20:
                    let hex = String(scalar.value, radix: 16)
                    output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                default: output.unicodeScalars.append(scalar)
                }
            }
            output += "\""
        case .integer(let integer): output += String(integer)
        case .double(let double): output += double.rounded() == double && abs(double) < 1e15 ? String(Int64(double)) + ".0" : String(double)
        case .bool(let bool): output += bool ? "true" : "false"
        case .null: output += "null"
        }
    }
}
