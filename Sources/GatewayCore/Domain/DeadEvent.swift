public import Foundation

/// A dead event as operators list, group and select it: what its inbox document says about its death.
public struct DeadEvent: Sendable, Equatable {
    public var key: EventKey
    public var type: String?
    public var shipmentId: String?
    public var failureClass: FailureClass?
    /// The last error, as the worker recorded it.
    public var lastError: String?
    /// Routing attempts spent before it died.
    public var attempts: Int
    public var deadAt: Date?
    /// The compare-and-set counter a replay is fenced by.
    public var version: Int
    /// How often operators replayed it before.
    public var replayCount: Int
    /// Where its audit chain ends: a replay's entry is sealed after it.
    public var chainHead: AuditChainHead?

    public init(
        key: EventKey, type: String? = nil, shipmentId: String? = nil, failureClass: FailureClass?, lastError: String?, attempts: Int,
        deadAt: Date?, version: Int, replayCount: Int = 0, chainHead: AuditChainHead? = nil
    ) {
        self.key = key
        self.type = type
        self.shipmentId = shipmentId
        self.failureClass = failureClass
        self.lastError = lastError
        self.attempts = attempts
        self.deadAt = deadAt
        self.version = version
        self.replayCount = replayCount
        self.chainHead = chainHead
    }

    /// The last error with its ids and numbers stripped: dead letters that failed the same way share it.
    public var fingerprint: String { ErrorFingerprint.of(lastError ?? "") }
}

/// Groups errors that differ only in the ids and numbers they mention.
public enum ErrorFingerprint {
    /// `text` with every word that holds a digit reduced to `#` where its digits (and, in an id, its letters mixed with
    /// them) were: `routing service answered 503 after 2001 ms for SHP-000123` gives
    /// `routing service answered # after # ms for SHP-#`.
    public static func of(_ text: String) -> String {
        var result = ""
        var word = ""
        func flush() {
            result += strip(word)
            word = ""
        }
        for character in text {
            if character.isWhitespace || character == "," || character == ";" || character == "(" || character == ")" || character == "\""
                || character == "'"
            {
                flush()
                result.append(character)
            } else {
                word.append(character)
            }
        }
        flush()
        return result
    }

    /// A word without digits is kept; in one with digits, each run of letters and digits that holds a digit becomes
    /// `#` (so `SHP-000123` is `SHP-#`, a UUID is `#-#-#-#-#` and `5f3a…` is `#`).
    private static func strip(_ word: String) -> String {
        guard word.contains(where: \.isNumber) else { return word }
        var result = ""
        var run = ""
        func flush() {
            guard !run.isEmpty else { return }
            if run.contains(where: \.isNumber) {
                if !result.hasSuffix("#") { result += "#" }
            } else {
                result += run
            }
            run = ""
        }
        for character in word {
            if character.isLetter || character.isNumber {
                run.append(character)
            } else {
                flush()
                result.append(character)
            }
        }
        flush()
        return result
    }
}

/// Who replays dead events and why: recorded in each replayed event's history and on its dead letter.
public struct Replay: Sendable, Equatable {
    /// The operator, or the name of the admin token used.
    public let by: String
    public let reason: String

    /// - Throws: ``ReplayError/invalidRequest(_:)`` when `by` or `reason` is blank or too long.
    public init(by: String, reason: String) throws(ReplayError) {
        let by = by.trimmingCharacters(in: .whitespacesAndNewlines)
        let reason = reason.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !by.isEmpty, by.utf8.count <= 200 else { throw .invalidRequest("who replays must be named, in at most 200 bytes") }
        guard !reason.isEmpty, reason.utf8.count <= 2_000 else { throw .invalidRequest("a replay needs a reason, in at most 2000 bytes") }
        self.by = by
        self.reason = reason
    }
}

/// Which dead events an operator means.
public enum DeadEventSelection: Sendable, Equatable {
    /// These events; any that is not dead is skipped and reported.
    case keys([EventKey])
    /// Every dead event the filter admits.
    case matching(DeadEventFilter)
}

/// A filter on dead events; an empty filter admits every one (`--all`).
public struct DeadEventFilter: Sendable, Equatable {
    public var source: String?
    public var failureClass: FailureClass?
    /// Only events with this ``DeadEvent/fingerprint``.
    public var fingerprint: String?
    /// Only events that died at or after this instant.
    public var since: Date?

    public init(source: String? = nil, failureClass: FailureClass? = nil, fingerprint: String? = nil, since: Date? = nil) {
        self.source = source
        self.failureClass = failureClass
        self.fingerprint = fingerprint
        self.since = since
    }

    /// Whether the filter admits `event`.
    public func admits(_ event: DeadEvent) -> Bool {
        (source.map { $0 == event.key.source } ?? true) && (failureClass.map { $0 == event.failureClass } ?? true)
            && (fingerprint.map { $0 == event.fingerprint } ?? true) && (since.map { (event.deadAt ?? .distantPast) >= $0 } ?? true)
    }
}

/// Why a replay could not start.
public enum ReplayError: Error, Equatable, CustomStringConvertible {
    /// The request itself is wrong (no reason, no selection).
    case invalidRequest(String)

    public var description: String {
        switch self {
        case .invalidRequest(let reason): reason
        }
    }
}
