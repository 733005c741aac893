public import Foundation

/// Redrives dead letters: each selected `dead` event goes back to `received` with a fresh attempt budget (see
/// ``EventLifecycle/replay(_:version:attempts:now:)``), keeps its whole history with a `replayed` entry, and its
/// dead letter is marked replayed. The `(source, eventId)` key is untouched, so later deliveries of the event are
/// still answered `duplicate`.
///
/// Idempotent: an event that is no longer dead is skipped and reported, so running a replay twice replays once, and
/// of two concurrent replays of one event only one moves it (the step is a compare-and-set on the version read).
public struct ReplayDeadEvents: Sendable {
    /// What a replay did, or would do (`dryRun`).
    public struct Report: Sendable, Equatable {
        /// Events moved back to `received` (with `dryRun`: that would be).
        public var replayed: [DeadEvent] = []
        /// Selected events left as they are, with why.
        public var skipped: [Skip] = []
        public var dryRun: Bool

        public init(dryRun: Bool) {
            self.dryRun = dryRun
        }
    }

    /// A selected event that was not replayed.
    public struct Skip: Sendable, Equatable {
        public var key: EventKey
        public var reason: String

        public init(key: EventKey, reason: String) {
            self.key = key
            self.reason = reason
        }
    }

    private let store: any DeadEventStore
    private let clock: any TimeSource
    private let observer: any PipelineObserver
    private let sealer: AuditSealer?

    /// - Parameter sealer: seals each `replayed` entry into the event's audit chain; nil when history is not sealed.
    public init(
        store: any DeadEventStore, clock: any TimeSource = SystemTimeSource(), observer: any PipelineObserver = SilentObserver(),
        sealer: AuditSealer? = nil
    ) {
        self.store = store
        self.clock = clock
        self.observer = observer
        self.sealer = sealer
    }

    /// Replays the selected dead events, or with `dryRun` only reports which it would replay.
    /// - Throws: ``ReplayError`` for an empty selection by key; the store's errors.
    public func run(_ selection: DeadEventSelection, replay: Replay, dryRun: Bool) async throws -> Report {
        var report = Report(dryRun: dryRun)
        let candidates: [DeadEvent]
        switch selection {
        case .keys(let keys):
            guard !keys.isEmpty else { throw ReplayError.invalidRequest("name at least one event to replay") }
            var found: [DeadEvent] = []
            for key in Self.unique(keys) {
                switch try await store.lookUp(key) {
                case .absent: report.skipped.append(Skip(key: key, reason: "no such event"))
                case .notDead(let status): report.skipped.append(Skip(key: key, reason: "not dead: it is \(status.rawValue)"))
                case .dead(let event): found.append(event)
                }
            }
            candidates = found
        case .matching(let filter):
            candidates = try await store.deadEvents(source: filter.source, failureClass: filter.failureClass, since: filter.since, limit: .max)
                .filter(filter.admits)
        }
        for event in candidates {
            if dryRun {
                report.replayed.append(event)
                continue
            }
            let now = clock.now()
            let step = EventLifecycle.replay(replay, version: event.version, attempts: event.attempts, now: now)
                .sealed(by: sealer, after: event.chainHead)
            guard try await store.apply(step, to: event.key) else {
                report.skipped.append(Skip(key: event.key, reason: "changed since it was read: replayed by someone else, or no longer dead"))
                continue
            }
            try await store.markDeadLetterReplayed(event.key, replay: replay, at: now)
            report.replayed.append(event)
        }
        if !dryRun { observer.replayed(report.replayed.count) }
        return report
    }

    private static func unique(_ keys: [EventKey]) -> [EventKey] {
        var seen = Set<EventKey>()
        return keys.filter { seen.insert($0).inserted }
    }
}
