import NIOCore

/// A connection's one timer for deadlines that move on with every request.
///
/// Scheduling and cancelling a timer per request costs more than the request's own work on a busy connection, so the
/// timer is only scheduled when none is pending or when a deadline earlier than the pending one arrives. A timer that
/// fires early, because the deadline it was scheduled for has since moved on, is re-armed by its owner for the
/// deadline then current: a connection of quick requests costs one timer per timeout period, not one per request.
///
/// Lives on the connection's event loop, inside a channel handler.
struct ConnectionTimer {
    private var scheduled: Scheduled<Void>?
    /// When the pending timer fires.
    private var firesAt = NIODeadline.distantFuture

    /// Makes sure `fired` runs on `loop` no later than `deadline`: a pending timer due earlier is kept, since it
    /// re-arms when it fires, and a later one is replaced.
    mutating func fire(noLaterThan deadline: NIODeadline, on loop: any EventLoop, _ fired: @escaping () -> Void) {
        if let scheduled {
            guard deadline < firesAt else { return }
            scheduled.cancel()
        }
        firesAt = deadline
        scheduled = loop.assumeIsolated().scheduleTask(deadline: deadline, fired)
    }

    /// Forgets the timer that just fired: the first call of its `fired`.
    mutating func markFired() {
        scheduled = nil
        firesAt = .distantFuture
    }

    mutating func cancel() {
        scheduled?.cancel()
        markFired()
    }
}
