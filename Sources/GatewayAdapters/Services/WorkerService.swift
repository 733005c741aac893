public import GatewayCore
public import Logging
import Metrics
public import ServiceLifecycle

/// The worker role: reads the stream through the consumer group and processes up to `eventsInFlight`
/// events at once; the routing call is asynchronous, so hundreds are in flight on two cores.
///
/// An entry is acknowledged once its outcome is in the store. An entry whose handling failed stays
/// pending and is taken over by `XAUTOCLAIM` after `claimIdle`, by this worker or another.
///
/// Graceful shutdown stops the reading and lets the events in flight finish; past the group's grace period they are
/// cancelled, and each gives its event back, due now (see ``ProcessEvent``).
public struct WorkerService: Service {
    private let process: ProcessEvent
    private let stream: any EventStream
    private let consumer: String
    private let eventsInFlight: Int
    private let claimIdle: Duration
    private let heartbeat: Heartbeat
    private let logger: Logger
    private let inFlight = Meter(label: MetricName.eventsInFlight)

    /// Creates the service; `heartbeat` beats after every read of the stream that got an answer.
    public init(
        process: ProcessEvent, stream: any EventStream, consumer: String, eventsInFlight: Int, claimIdle: Duration,
        heartbeat: Heartbeat = Heartbeat(name: "worker"), logger: Logger
    ) {
        self.process = process
        self.stream = stream
        self.consumer = consumer
        self.eventsInFlight = eventsInFlight
        self.claimIdle = claimIdle
        self.heartbeat = heartbeat
        self.logger = logger
    }

    public func run() async throws {
        let places = ConcurrencyLimit(eventsInFlight)
        var nextReclaim = ContinuousClock.now
        try await prepareStream()
        await withDiscardingTaskGroup { group in
            // Graceful shutdown stops the reading; the group then waits for the events in flight.
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                await places.acquire()
                let taken = 1 + places.acquireAllFree()
                do {
                    var messages: [StreamMessage] = []
                    if ContinuousClock.now >= nextReclaim {
                        messages = try await stream.reclaim(consumer: consumer, minIdle: claimIdle, count: taken)
                        nextReclaim = ContinuousClock.now + min(claimIdle / 2, .seconds(5))
                    }
                    if messages.isEmpty {
                        messages = try await stream.read(consumer: consumer, count: taken, block: .seconds(1))
                    }
                    heartbeat.beat()
                    places.release(taken - messages.count)
                    for message in messages {
                        inFlight.increment()
                        group.addTask {
                            await handle(message)
                            inFlight.decrement()
                            places.release()
                        }
                    }
                } catch {
                    places.release(taken)
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
        let event: Logger.Metadata = ["source": "\(message.key.source)", "eventId": "\(message.key.eventId)"]
        do {
            let result = try await process(message.key)
            try await stream.acknowledge([message.id])
            logger.trace("handled", metadata: event.merging(["result": "\(result)"]) { $1 })
        } catch let error as StoreError where !error.isStoreWide {
            // The store refuses this event's document: retrying the entry cannot help, and one bad document must not
            // occupy the workers. The event stays as it is in the inbox; the relay's recovery republishes it after its
            // window and, should it fail there too, sets it aside with a growing backoff.
            Counter(label: MetricName.workerDocumentFailures).increment()
            logger.warning(
                "the store refused this event's document; its entry is acknowledged", metadata: event.merging(["error": "\(error)"]) { $1 })
            try? await stream.acknowledge([message.id])
        } catch is CancellationError {
            logger.debug("shutting down: the entry stays pending", metadata: event)
        } catch {
            logger.warning("event handling failed; the entry stays pending", metadata: event.merging(["error": "\(error)"]) { $1 })
        }
    }
}
