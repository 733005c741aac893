import CMongoC
public import Foundation
public import GatewayCore

/// A BSON value as the gateway reads and writes it.
public indirect enum BSON: Sendable, Equatable {
    case document(BSONDocument)
    case array([BSON])
    case string(String)
    case int32(Int32)
    case int64(Int64)
    case double(Double)
    case bool(Bool)
    case date(Date)
    case null
    /// An ObjectId, as its 24 hex digits.
    case objectId(String)
    /// A type the gateway never writes (regex, binary, decimal128, …), kept by its BSON type number.
    case unsupported(UInt32)

    /// An integer of any width, when the value is one.
    public var intValue: Int? {
        switch self {
        case .int32(let value): Int(value)
        case .int64(let value): Int(value)
        case .double(let value) where value.rounded() == value: Int(value)
        default: nil
        }
    }

    /// The value when it is a string.
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The value when it is a date.
    public var dateValue: Date? {
        if case .date(let value) = self { return value }
        return nil
    }

    /// The value when it is a document.
    public var documentValue: BSONDocument? {
        if case .document(let value) = self { return value }
        return nil
    }

    /// The value when it is an array.
    public var arrayValue: [BSON]? {
        if case .array(let value) = self { return value }
        return nil
    }

    /// The value's BSON twin of a JSON payload: objects keep their key order, integers stay integers.
    public init(_ json: JSONValue) {
        switch json {
        case .object(let members): self = .document(BSONDocument(members.map { ($0.key, BSON($0.value)) }))
        case .array(let elements): self = .array(elements.map(BSON.init))
        case .string(let value): self = .string(value)
        case .integer(let value): self = Int32(exactly: value).map(BSON.int32) ?? .int64(value)
        case .double(let value): self = .double(value)
        case .bool(let value): self = .bool(value)
        case .null: self = .null
        }
    }
}

/// An ordered BSON document; field order matters to MongoDB commands and index keys.
public struct BSONDocument: Sendable, Equatable, ExpressibleByDictionaryLiteral {
    /// The fields in order.
    public var fields: [(key: String, value: BSON)]

    /// Creates a document from ordered fields.
    public init(_ fields: [(String, BSON)] = []) {
        self.fields = fields.map { (key: $0.0, value: $0.1) }
    }

    public init(dictionaryLiteral elements: (String, BSON)...) {
        self.init(elements)
    }

    /// The first field named `key`, or nil.
    public subscript(key: String) -> BSON? {
        fields.first { $0.key == key }?.value
    }

    /// The value at a dotted path such as `result.hub`.
    public subscript(path path: String) -> BSON? {
        var current: BSON = .document(self)
        for component in path.split(separator: ".") {
            guard let document = current.documentValue, let next = document[String(component)] else { return nil }
            current = next
        }
        return current
    }

    /// Appends a field.
    public mutating func append(_ key: String, _ value: BSON) {
        fields.append((key: key, value: value))
    }

    public static func == (lhs: BSONDocument, rhs: BSONDocument) -> Bool {
        lhs.fields.count == rhs.fields.count
            && zip(lhs.fields, rhs.fields).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }
}

/// Owns one heap `bson_t` for the duration of a C call.
///
/// The pointer is only reachable through ``withPointer(_:)``, which keeps the owner alive for the whole
/// call: Swift may otherwise release the owner right after its last use, before C reads the pointer.
/// Unchecked `Sendable`: the document is written once, in `init`, and only read afterwards.
package final class BSONBuffer: @unchecked Sendable {
    private let pointer: OpaquePointer

    /// Encodes a document into a new heap `bson_t`.
    init(_ document: BSONDocument) throws(StoreError) {
        pointer = bson_new()
        // Every stored property is set: a throw from here on runs `deinit`, which destroys the document.
        try Self.append(document, to: pointer)
    }

    /// Copies a document's bytes into a new heap `bson_t`.
    /// - Throws: ``StoreError`` `invalidDocument` when they are not a BSON document.
    init(bytes: [UInt8]) throws(StoreError) {
        guard let pointer = bytes.withUnsafeBufferPointer({ bson_new_from_data($0.baseAddress, $0.count) }) else {
            throw StoreError(.invalidDocument, operation: "encode", message: "\(bytes.count) bytes are not a BSON document")
        }
        self.pointer = pointer
    }

    deinit { bson_destroy(pointer) }

    /// The encoded size in bytes.
    var byteCount: Int { Int(gateway_bson_length(pointer)) }

    /// The encoded document.
    var bytes: [UInt8] { withPointer { [UInt8](UnsafeBufferPointer(start: bson_get_data($0), count: byteCount)) } }

    func withPointer<T>(_ body: (OpaquePointer) throws -> T) rethrows -> T {
        try withExtendedLifetime(self) { try body(pointer) }
    }

    private static func append(_ document: BSONDocument, to target: OpaquePointer) throws(StoreError) {
        for (key, value) in document.fields {
            try append(key: key, value: value, to: target)
        }
    }

    private static func append(key: String, value: BSON, to target: OpaquePointer) throws(StoreError) {
        let appended: Bool
        switch value {
        case .document(let document):
            appended = try nested(document, key: key, to: target, asArray: false)
        case .array(let elements):
            let document = BSONDocument(elements.enumerated().map { (String($0.offset), $0.element) })
            appended = try nested(document, key: key, to: target, asArray: true)
        case .string(let string):
            // Values are length-prefixed in BSON, so an embedded NUL is kept; keys (C strings) cannot hold one.
            appended = string.withCString { bson_append_utf8(target, key, -1, $0, Int32(string.utf8.count)) }
        case .int32(let int): appended = bson_append_int32(target, key, -1, int)
        case .int64(let int): appended = bson_append_int64(target, key, -1, int)
        case .double(let double): appended = bson_append_double(target, key, -1, double)
        case .bool(let bool): appended = bson_append_bool(target, key, -1, bool)
        case .date(let date):
            appended = bson_append_date_time(target, key, -1, Int64((date.timeIntervalSince1970 * 1000).rounded()))
        case .null: appended = bson_append_null(target, key, -1)
        case .objectId(let hex):
            var oid = bson_oid_t()
            guard bson_oid_is_valid(hex, hex.utf8.count) else {
                throw StoreError(.invalidDocument, operation: "encode", message: "'\(hex)' is not an ObjectId")
            }
            bson_oid_init_from_string(&oid, hex)
            appended = bson_append_oid(target, key, -1, &oid)
        case .unsupported(let type):
            throw StoreError(.invalidDocument, operation: "encode", message: "cannot write BSON type \(type) at '\(key)'")
        }
        guard appended else {
            throw StoreError(.invalidDocument, operation: "encode", message: "document too large at '\(key)'")
        }
    }

    private static func nested(
        _ document: BSONDocument, key: String, to target: OpaquePointer, asArray: Bool
    ) throws(StoreError) -> Bool {
        let child = try BSONBuffer(document)
        return child.withPointer { pointer in
            asArray ? bson_append_array(target, key, -1, pointer) : bson_append_document(target, key, -1, pointer)
        }
    }
}

/// 128-byte-aligned scratch memory for a `bson_t` or `bson_iter_t`: Debian's libbson requires that
/// alignment, which Swift stack values do not have.
struct AlignedScratch: ~Copyable {
    let pointer: OpaquePointer
    private let raw: UnsafeMutableRawPointer

    init() {
        raw = UnsafeMutableRawPointer.allocate(byteCount: 256, alignment: 128)
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: 256)
        pointer = OpaquePointer(raw)
    }

    deinit { raw.deallocate() }
}

extension BSONDocument {
    /// Decodes a `bson_t` the caller owns.
    init(decoding bson: OpaquePointer) {
        let iterator = AlignedScratch()
        guard bson_iter_init(iterator.pointer, bson) else {
            self.init()
            return
        }
        self.init(iterating: iterator.pointer)
    }

    /// Decodes the fields an initialised iterator walks over.
    private init(iterating iterator: OpaquePointer) {
        var fields: [(String, BSON)] = []
        while bson_iter_next(iterator) {
            fields.append((String(cString: bson_iter_key(iterator)), BSON(at: iterator)))
        }
        self.init(fields)
    }

    /// Decodes a nested document or array at the iterator's position.
    fileprivate static func child(of iterator: OpaquePointer) -> BSONDocument {
        let child = AlignedScratch()
        guard bson_iter_recurse(iterator, child.pointer) else { return BSONDocument() }
        return BSONDocument(iterating: child.pointer)
    }
}

extension BSON {
    fileprivate init(at iterator: OpaquePointer) {
        let type = bson_iter_type(iterator)
        switch type {
        case BSON_TYPE_UTF8:
            var length: UInt32 = 0
            let cString = bson_iter_utf8(iterator, &length)!
            self = .string(
                String(decoding: UnsafeRawBufferPointer(start: cString, count: Int(length)), as: UTF8.self))
        case BSON_TYPE_INT32: self = .int32(bson_iter_int32(iterator))
        case BSON_TYPE_INT64: self = .int64(bson_iter_int64(iterator))
        case BSON_TYPE_DOUBLE: self = .double(bson_iter_double(iterator))
        case BSON_TYPE_BOOL: self = .bool(bson_iter_bool(iterator))
        case BSON_TYPE_DATE_TIME:
            self = .date(Date(timeIntervalSince1970: Double(bson_iter_date_time(iterator)) / 1000))
        case BSON_TYPE_NULL: self = .null
        case BSON_TYPE_DOCUMENT: self = .document(BSONDocument.child(of: iterator))
        case BSON_TYPE_ARRAY: self = .array(BSONDocument.child(of: iterator).fields.map(\.value))
        case BSON_TYPE_OID:
            var buffer = [CChar](repeating: 0, count: 25)
            bson_oid_to_string(bson_iter_oid(iterator), &buffer)
            self = .objectId(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        default: self = .unsupported(type.rawValue)
        }
    }
}

extension BSONDocument {
    /// The document as relaxed extended JSON, the form the CLI and admin API print.
    public var relaxedExtendedJSON: String {
        guard let buffer = try? BSONBuffer(self) else { return "{}" }
        return buffer.withPointer { pointer in
            guard let json = bson_as_relaxed_extended_json(pointer, nil) else { return "{}" }
            defer { bson_free(json) }
            return String(cString: json)
        }
    }
}
