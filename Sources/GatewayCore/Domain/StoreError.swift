/// A failure of the system of record, classified where it is raised so callers can decide without
/// knowing the driver (ingest answers 400 for ``Code/invalidDocument`` and 503 for the rest).
public struct StoreError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The class of failure.
    public enum Code: String, Sendable {
        /// The server cannot be reached or selected.
        case unavailable
        /// The server did not answer in time.
        case timeout
        /// A unique index rejected the write.
        case duplicateKey
        /// The server rejected the document (validation, invalid field names, size).
        case invalidDocument
        /// The gateway's own queue for this kind of write is full: the store is not keeping up. Retry shortly.
        case overloaded
        /// Anything else the server or driver reported.
        case failed
    }

    /// The class of failure.
    public let code: Code
    /// The operation that failed, e.g. `insert events`.
    public let operation: String
    /// The driver's or server's own message.
    public let message: String
    /// The server's numeric error code, when there is one.
    public let serverCode: Int?

    /// Creates an error.
    public init(_ code: Code, operation: String, message: String, serverCode: Int? = nil) {
        self.code = code
        self.operation = operation
        self.message = message
        self.serverCode = serverCode
    }

    /// Whether the failure is the store's as a whole (it cannot be reached or did not answer), rather than one
    /// document's: a relay step that meets it stops, while a document's own failure is set aside and the step goes on.
    public var isStoreWide: Bool { code == .unavailable || code == .timeout || code == .overloaded }

    public var description: String {
        "\(operation) failed (\(code.rawValue)\(serverCode.map { ", server code \($0)" } ?? "")): \(message)"
    }
}
