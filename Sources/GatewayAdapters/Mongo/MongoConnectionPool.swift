import CMongoC
public import GatewayCore
import Logging
import NIOPosix

/// A pool of libmongoc clients with its own threads: every blocking driver call runs on one of them,
/// never on an event loop or the cooperative pool.
///
/// `mongoc_client_t` is not thread-safe, so a client is popped, used and pushed back inside one
/// thread-pool job and never crosses an `await`. The thread count equals the pool's maximum size, so a
/// job never blocks waiting for a client.
public final class MongoConnectionPool: @unchecked Sendable {
    /// The database the gateway's collections live in.
    public let databaseName: String
    private let pool: OpaquePointer
    private let threads: NIOThreadPool
    /// Threads of their own for ingest's inserts, so that a delivery's write never queues behind the relay's and the
    /// workers' jobs in this process.
    private let ingestThreads: NIOThreadPool
    private let ingestPriority: IngestPriority
    private let redoableWriteConcern: BSONDocument?

    /// Connects lazily to `url`; the first operation selects a server.
    /// - Parameters:
    ///   - url: a MongoDB connection string. `serverSelectionTimeoutMS` and `connectTimeoutMS` default to
    ///     2 s when it does not set them, so an unavailable store fails fast instead of hanging for 30 s;
    ///     `journal` defaults to true (see ``requireJournalledWrites(_:)``).
    ///   - databaseName: overrides the database named in the URL (tests use one database each).
    ///   - size: the number of clients and threads for everything but ingest's inserts.
    ///   - ingestLane: clients and threads kept for ingest's inserts (``Lane/ingest``).
    ///   - socketTimeout: `socketTimeoutMS` unless the URL sets it: a store that stops answering without closing
    ///     its connections (frozen, or cut off by the network) holds a thread at most this long, not libmongoc's 5 minutes.
    ///   - ingestPriority: how long the other jobs may wait while ingest's inserts are queued or running (see
    ///     ``IngestPriority``); zero turns priority off.
    /// - Throws: ``StoreError`` when the URL is invalid.
    public init(
        url: String, databaseName: String? = nil, size: Int = 16, ingestLane: Int = 2, socketTimeout: Duration = .seconds(10),
        ingestPriority: Duration = .zero
    ) throws(StoreError) {
        _ = mongocInitialized
        var error = bson_error_t()
        guard let uri = mongoc_uri_new_with_error(url, &error) else {
            throw StoreError(.failed, operation: "parse GATEWAY_MONGO_URL", message: StoreError(mongoc: error, operation: "").message)
        }
        defer { mongoc_uri_destroy(uri) }
        let timeouts = [("serverSelectionTimeoutMS", 2_000), ("connectTimeoutMS", 2_000), ("socketTimeoutMS", Int(socketTimeout.milliseconds))]
        for (option, milliseconds) in timeouts where !mongoc_uri_has_option(uri, option) {
            mongoc_uri_set_option_as_int32(uri, option, Int32(milliseconds))
        }
        Self.requireJournalledWrites(uri)
        redoableWriteConcern = Self.withoutJournal(mongoc_uri_get_write_concern(uri))
        guard let pool = mongoc_client_pool_new_with_error(uri, &error) else {
            throw StoreError(mongoc: error, operation: "create client pool")
        }
        mongoc_client_pool_set_error_api(pool, 2)
        mongoc_client_pool_max_size(pool, UInt32(size + ingestLane))
        if mongoc_uri_get_appname(uri) == nil { mongoc_client_pool_set_appname(pool, "courier-event-gateway") }
        self.pool = pool
        self.databaseName = databaseName ?? mongoc_uri_get_database(uri).map { String(cString: $0) } ?? "gateway"
        self.threads = NIOThreadPool(numberOfThreads: size)
        self.ingestThreads = NIOThreadPool(numberOfThreads: max(ingestLane, 1))
        self.ingestPriority = IngestPriority(maxHold: ingestPriority)
        threads.start()
        ingestThreads.start()
    }

    /// Makes every write wait for the server's journal unless the URL chose otherwise.
    ///
    /// An acknowledgement without the journal only means the write reached memory: SecantusDB, killed right
    /// after, lost 5 of 200 such inserts here (none with `j: true`). The gateway answers 202 only for what a
    /// crash cannot take back, so it asks for the journal by default.
    private static func requireJournalledWrites(_ uri: OpaquePointer) {
        let writeConcern = mongoc_write_concern_copy(mongoc_uri_get_write_concern(uri))!
        defer { mongoc_write_concern_destroy(writeConcern) }
        // An explicit journal choice stands, and so does w=0, which a journal requirement would make invalid.
        guard !mongoc_write_concern_journal_is_set(writeConcern), mongoc_write_concern_get_w(writeConcern) != 0 else { return }
        mongoc_write_concern_set_journal(writeConcern, true)
        mongoc_uri_set_write_concern(uri, writeConcern)
    }

    /// The connection's write concern without the journal, or nil when it does not ask for the journal.
    private static func withoutJournal(_ writeConcern: OpaquePointer) -> BSONDocument? {
        guard mongoc_write_concern_get_journal(writeConcern) else { return nil }
        var document: BSONDocument = ["j": .bool(false)]
        if mongoc_write_concern_get_wmajority(writeConcern) {
            document.append("w", .string("majority"))
        } else if let tag = mongoc_write_concern_get_wtag(writeConcern) {
            document.append("w", .string(String(cString: tag)))
        } else if mongoc_write_concern_get_w(writeConcern) > 0 {
            document.append("w", .int32(mongoc_write_concern_get_w(writeConcern)))
        }
        let timeout = mongoc_write_concern_get_wtimeout_int64(writeConcern)
        if timeout > 0 { document.append("wtimeout", .int64(timeout)) }
        return document
    }

    /// Runs `body` with a client on the pool's threads.
    /// - Throws: whatever `body` throws (a ``StoreError``), or ``StoreError/Code/unavailable`` after shutdown.
    package func withDatabase<T: Sendable>(
        _ operation: String, _ body: @escaping @Sendable (MongoDatabase) throws -> T
    ) async throws -> T {
        await ingestPriority.admit()
        do {
            return try await threads.runIfActive { [self] in
                let client = mongoc_client_pool_pop(pool)!
                defer { mongoc_client_pool_push(pool, client) }
                return try body(MongoDatabase(client: client, name: databaseName, redoableWriteConcern: redoableWriteConcern))
            }
        } catch let error as StoreError {
            throw error
        } catch let error as CancellationError {
            throw error
        } catch {
            throw StoreError(.unavailable, operation: operation, message: "the connection pool is shut down")
        }
    }

    /// Which threads run a job: ingest's inserts have their own.
    package enum Lane: Sendable {
        case ingest
        case pipeline
    }

    /// Runs `body` on the `lane`'s threads with a client, without a task: `body` gets the database, or an
    /// `unavailable` error when the pool is shut down.
    /// Ingest's jobs go first (``IngestPriority``): a pipeline job may wait for them before it starts.
    package func execute(_ operation: String, lane: Lane, _ body: @escaping @Sendable (Result<MongoDatabase, StoreError>) -> Void) {
        let job: @Sendable (NIOThreadPool.WorkItemState) -> Void = { [self] state in
            defer { if lane == .ingest { ingestPriority.ingestJobEnded() } }
            guard case .active = state else {
                body(.failure(StoreError(.unavailable, operation: operation, message: "the connection pool is shut down")))
                return
            }
            let client = mongoc_client_pool_pop(pool)!
            defer { mongoc_client_pool_push(pool, client) }
            body(.success(MongoDatabase(client: client, name: databaseName, redoableWriteConcern: redoableWriteConcern)))
        }
        switch lane {
        case .ingest:
            ingestPriority.ingestJobStarted()
            ingestThreads.submit(job)
        case .pipeline: ingestPriority.whenIngestAllows { [threads] in threads.submit(job) }
        }
    }

    /// Stops the threads (after in-flight jobs finish) and closes every connection.
    public func shutdown() async {
        try? await ingestThreads.shutdownGracefully()
        try? await threads.shutdownGracefully()
        mongoc_client_pool_destroy(pool)
    }
}

extension MongoConnectionPool: HealthProbe {
    /// `mongo`.
    public var name: String { "mongo" }

    /// Sends `ping` to the server.
    public func ping() async throws {
        _ = try await withDatabase("ping") { database in try database.command(["ping": .int32(1)], operation: "ping") }
    }
}

/// `mongoc_init` must run once per process before any other libmongoc call.
private let mongocInitialized: Void = {
    mongoc_init()
    mongoc_log_set_handler(
        { level, domain, message, _ in
            // The driver's own chatter below warnings is noise; what is left goes through swift-log.
            guard level.rawValue <= MONGOC_LOG_LEVEL_WARNING.rawValue, let message else { return }
            let text = "\(domain.map { String(cString: $0) } ?? "mongoc"): \(String(cString: message))"
            driverLogger.warning("\(text)")
        }, nil)
}()

private let driverLogger = Logger(label: "mongoc")

extension MongoConnectionPool {
    /// Drops the whole database: every event, dead letter and migration record. For tests and demo resets.
    public func dropDatabase() async throws {
        _ = try await withDatabase("dropDatabase") { database in
            try database.command(["dropDatabase": .int32(1)], operation: "dropDatabase \(database.name)")
        }
    }
}
