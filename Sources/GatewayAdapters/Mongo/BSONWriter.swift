import Foundation
import GatewayCore

/// Writes a BSON document's bytes directly: an int32 length (little-endian), typed elements, a closing zero.
/// Ingest builds each inbox document this way, the payload included, without a tree in between.
struct BSONWriter {
    private(set) var bytes: [UInt8] = []
    /// Where the length of each open document is to be written.
    private var openDocuments: [Int] = []

    init(capacity: Int = 256) {
        bytes.reserveCapacity(capacity)
    }

    /// Opens a document: the root one, or the value of the element just written by ``document(_:)``/``array(_:)``.
    mutating func open() {
        openDocuments.append(bytes.count)
        bytes.append(contentsOf: [0, 0, 0, 0])
    }

    /// Closes the innermost open document and writes its length.
    mutating func close() {
        bytes.append(0)
        let start = openDocuments.removeLast()
        let length = UInt32(bytes.count - start)
        withUnsafeBytes(of: length.littleEndian) { bytes.replaceSubrange(start..<start + 4, with: $0) }
    }

    /// The header of an element: its type and its name, a C string.
    private mutating func header(_ type: UInt8, _ name: JSONName) {
        bytes.append(type)
        switch name {
        case .root: return
        case .member(let utf8): bytes.append(contentsOf: utf8)
        case .element(let index): bytes.append(contentsOf: String(index).utf8)
        }
        bytes.append(0)
    }

    private mutating func header(_ type: UInt8, _ name: StaticString) {
        bytes.append(type)
        name.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(0)
    }

    private mutating func append<Integer: FixedWidthInteger>(_ value: Integer) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    private mutating func appendString(_ utf8: UnsafeBufferPointer<UInt8>) {
        append(Int32(utf8.count + 1))
        bytes.append(contentsOf: utf8)
        bytes.append(0)
    }

    mutating func document(_ name: JSONName) {
        header(0x03, name)
        open()
    }

    mutating func array(_ name: JSONName) {
        header(0x04, name)
        open()
    }

    mutating func string(_ name: JSONName, _ utf8: UnsafeBufferPointer<UInt8>) {
        header(0x02, name)
        appendString(utf8)
    }

    /// An integer as int32 when it fits, int64 otherwise, as the gateway has always stored payload integers.
    mutating func integer(_ name: JSONName, _ value: Int64) {
        if let small = Int32(exactly: value) {
            header(0x10, name)
            append(small)
        } else {
            header(0x12, name)
            append(value)
        }
    }

    mutating func double(_ name: JSONName, _ value: Double) {
        header(0x01, name)
        append(value.bitPattern)
    }

    mutating func bool(_ name: JSONName, _ value: Bool) {
        header(0x08, name)
        bytes.append(value ? 1 : 0)
    }

    mutating func null(_ name: JSONName) {
        header(0x0A, name)
    }

    // MARK: Fields of the inbox document, by their fixed names

    mutating func string(_ name: StaticString, _ value: String) {
        header(0x02, name)
        var value = value
        value.withUTF8 { appendString($0) }
    }

    mutating func int32(_ name: StaticString, _ value: Int32) {
        header(0x10, name)
        append(value)
    }

    mutating func null(_ name: StaticString) {
        header(0x0A, name)
    }

    mutating func date(_ name: StaticString, _ value: Date) {
        header(0x09, name)
        append(Int64((value.timeIntervalSince1970 * 1_000).rounded()))
    }

    /// A document written elsewhere, embedded as it is.
    mutating func embedded(_ name: StaticString, _ document: [UInt8]) {
        header(0x03, name)
        bytes.append(contentsOf: document)
    }

    /// Opens an embedded document, closed by ``close()``.
    mutating func document(_ name: StaticString) {
        header(0x03, name)
        open()
    }

    mutating func emptyArray(_ name: StaticString) {
        header(0x04, name)
        bytes.append(contentsOf: [5, 0, 0, 0, 0])
    }
}

/// Encodes payloads as BSON documents while reading them (``PayloadReader``): the inbox's ``PayloadEncoder``.
struct BSONPayloadEncoder: PayloadEncoder {
    static let encoding = "bson"

    func encode(_ body: UnsafeBufferPointer<UInt8>) throws(PayloadError) -> (fields: PayloadFields, payload: EncodedPayload) {
        let (sink, fields) = try PayloadReader.read(body, into: BSONSink(writer: BSONWriter(capacity: body.count + 64)))
        return (fields, EncodedPayload(encoding: Self.encoding, bytes: sink.writer.bytes))
    }
}

/// Writes what the JSON reader reads as BSON.
private struct BSONSink: JSONSink {
    var writer: BSONWriter

    mutating func openObject(_ name: JSONName) {
        if case .root = name { writer.open() } else { writer.document(name) }
    }

    mutating func closeObject() { writer.close() }
    mutating func openArray(_ name: JSONName) { writer.array(name) }
    mutating func closeArray() { writer.close() }
    mutating func string(_ name: JSONName, _ utf8: UnsafeBufferPointer<UInt8>) { writer.string(name, utf8) }
    mutating func integer(_ name: JSONName, _ value: Int64) { writer.integer(name, value) }
    mutating func double(_ name: JSONName, _ value: Double) { writer.double(name, value) }
    mutating func bool(_ name: JSONName, _ value: Bool) { writer.bool(name, value) }
    mutating func null(_ name: JSONName) { writer.null(name) }
}
