import CMongoC
import GatewayCore

extension StoreError {
    /// Classifies a libmongoc error (error API version 2) where it is raised.
    init(mongoc error: bson_error_t, operation: String) {
        let message = withUnsafeBytes(of: error.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        let domain = Int(error.domain)
        let code = Int(error.code)
        self.init(Self.classify(domain: domain, code: code), operation: operation, message: message, serverCode: code)
    }

    /// Classifies an error a server reported inside a reply (e.g. one entry of `writeErrors`).
    init(serverCode: Int, message: String, operation: String) {
        self.init(Self.serverCodes[serverCode] ?? .failed, operation: operation, message: message, serverCode: serverCode)
    }

    private static func classify(domain: Int, code: Int) -> Code {
        if code == Int(MONGOC_ERROR_SERVER_SELECTION_FAILURE.rawValue) { return .unavailable }
        switch domain {
        case Int(MONGOC_ERROR_SERVER_SELECTION.rawValue), Int(MONGOC_ERROR_STREAM.rawValue):
            return .unavailable
        case Int(MONGOC_ERROR_BSON.rawValue):
            return .invalidDocument
        // The driver validates documents before a write is sent (e.g. an empty key): it refuses them as arguments.
        case Int(MONGOC_ERROR_COMMAND.rawValue) where code == Int(MONGOC_ERROR_COMMAND_INVALID_ARG.rawValue):
            return .invalidDocument
        case Int(MONGOC_ERROR_SERVER.rawValue), Int(MONGOC_ERROR_WRITE_CONCERN.rawValue):
            return serverCodes[code] ?? .failed
        default:
            return .failed
        }
    }

    /// Server error codes that callers treat differently from a generic failure.
    private static let serverCodes: [Int: Code] = [
        11000: .duplicateKey,
        121: .invalidDocument,  // DocumentValidationFailure
        2: .invalidDocument,  // BadValue
        52: .invalidDocument,  // DollarPrefixedFieldName
        10334: .invalidDocument,  // BSONObjectTooLarge
        50: .timeout,  // MaxTimeMSExpired
        64: .timeout,  // WriteConcernFailed (wtimeout)
        91: .unavailable,  // ShutdownInProgress
        189: .unavailable,  // PrimarySteppedDown
        10107: .unavailable,  // NotWritablePrimary
        11600: .unavailable,  // InterruptedAtShutdown
        11602: .unavailable,  // InterruptedDueToReplStateChange
        13435: .unavailable,  // NotPrimaryNoSecondaryOk
    ]
}
