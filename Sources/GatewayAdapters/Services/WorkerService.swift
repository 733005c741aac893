public import GatewayCore
public import Logging
public import ServiceLifecycle
import Synchronization

/// The worker role: reads the stream through the consumer group and processes up to `concurrency`
/// events at once; the routing call is asynchronous, so hundreds are in flight on two cores.
///
/// An entry is acknowledged once its outcome is in the store. An entry whose handling failed stays
/// pending and is taken over by `XAUTOCLAIM` after `claimIdle`, by this worker or another.
public struct WorkerService: Service {
    private let process: ProcessEvent
    private let stream: any EventStream
    private let consumer: String
    private let concurrency: Int
    private let claimIdle: Duration
    private let logger: Logger

    /// Creates the service.
    public init(process: ProcessEvent, stream: any EventStream, consumer: String, concurrency: Int, claimIdle: Duration, logger: Logger) {
        self.process = process
        self.stream = stream
        self.consumer = consumer
        self.concurrency = concurrency
        self.claimIdle = claimIdle
        self.logger = logger
    }

    public func run() async throws {
        let slots = Slots(concurrency)
        var nextReclaim = ContinuousClock.now
        try await prepareStream()
        await withDiscardingTaskGroup { group in
            // Graceful shutdown stops the reading; the group then waits for the events in flight.
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                await slots.waitForFree()
                do {
                    var messages: [StreamMessage] = []
                    if ContinuousClock.now >= nextReclaim {
                        messages = try await stream.reclaim(consumer: consumer, minIdle: claimIdle, count: slots.free)
                        nextReclaim = ContinuousClock.now + min(claimIdle / 2, .seconds(5))
                    }
                    if messages.isEmpty {
                        messages = try await stream.read(consumer: consumer, count: slots.free, block: .seconds(1))
                    }
                    for message in messages {
                        slots.take()
                        group.addTask {
                            await handle(message)
                            slots.give()
                        }
                    }
                } catch {
                    logger.warning("reading the stream failed; retrying", metadata: ["error": "\(error)"])
                    try? await Task.sleep(for: .seconds(1))
                }
            }
        }
    }

    private func prepareStream() async throws {
        while true {
            do {
                return try await stream.prepare()
            } catch {
                logger.warning("cannot prepare the stream; retrying", metadata: ["error": "\(error)"])
                try await Task.sleep(for: .seconds(1))
            }
        }
    }

    private func handle(_ message: StreamMessage) async {
        do {
            let result = try await process(message.key)
            try await stream.acknowledge([message.id])
            logger.trace("handled", metadata: ["event": "\(message.key)", "result": "\(result)"])
        } catch {
            logger.warning("event handling failed; the entry stays pending", metadata: ["event": "\(message.key)", "error": "\(error)"])
        }
    }
}

/// Free places for in-flight events; the reader waits for one before reading more.
private final class Slots: Sendable {
    private struct State {
        var free: Int
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state: Mutex<State>

    init(_ count: Int) {
        state = Mutex(State(free: count))
    }

    var free: Int { state.withLock { $0.free } }

    func take() {
        state.withLock { $0.free -= 1 }
    }

    func give() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.free += 1
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    func waitForFree() async {
        await withCheckedContinuation { continuation in
            let resumeNow = state.withLock { state -> Bool in
                if state.free > 0 { return true }
                state.waiter = continuation
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }
}
