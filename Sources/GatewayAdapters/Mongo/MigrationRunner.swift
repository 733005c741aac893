import Crypto
public import Foundation
public import GatewayCore

/// One declarative migration file, `migrations/NNNN_description.json`:
/// `{"description": …, "collections": [{"name", "validator"?, "validationLevel"?, "validationAction"?}],
///   "indexes": [{"collection", "key", "name", …any other createIndexes option}],
///   "dropIndexes": [{"collection", "name"}]}`; indexes are created before the ones dropped go, so that a
/// replacement serves queries before what it replaces is gone.
public struct Migration: Sendable, Equatable {
    /// The file name without `.json`, e.g. `0001_events_inbox`; the record's `_id` in `schema_migrations`.
    public let id: String
    /// The number that orders migrations.
    public let number: Int
    /// What the migration is for.
    public let description: String
    /// SHA-256 of the file, so an applied migration that was edited afterwards is detected.
    public let checksum: String
    let collections: [BSONDocument]
    let indexes: [BSONDocument]
    let droppedIndexes: [DroppedIndex]

    /// An index the migration drops.
    struct DroppedIndex: Sendable, Equatable {
        let collection: String
        let name: String
    }
}

/// Why migrations could not be read or applied, naming the file.
public struct MigrationError: Error, CustomStringConvertible {
    /// The migration file or id concerned.
    public let migration: String
    /// What went wrong.
    public let reason: String

    public var description: String { "migration \(migration): \(reason)" }
}

/// Applies the pending migrations in order and records each in `schema_migrations`.
///
/// Every step is idempotent (create a collection that may exist, create indexes that may exist, drop
/// indexes that may be gone, record with an upsert), so two runners started at once both finish with the
/// same result.
public struct MigrationRunner: Sendable {
    private let pool: MongoConnectionPool
    private let directory: URL
    private let clock: any TimeSource

    /// Creates a runner for the migration files in `directory`; `clock` dates each migration's record.
    public init(pool: MongoConnectionPool, directory: URL, clock: any TimeSource = SystemTimeSource()) {
        self.pool = pool
        self.directory = directory
        self.clock = clock
    }

    /// Reads every migration file, ordered by number.
    /// - Throws: ``MigrationError`` for a missing folder, a badly named or invalid file, or a repeated number.
    public func migrations() throws -> [Migration] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw MigrationError(migration: directory.path, reason: "cannot read the migrations folder (set GATEWAY_MIGRATIONS_DIR)")
        }
        let migrations = try names.filter { $0.hasSuffix(".json") }.map(load).sorted { $0.number < $1.number }
        for (earlier, later) in zip(migrations, migrations.dropFirst()) where earlier.number == later.number {
            throw MigrationError(migration: later.id, reason: "shares its number with \(earlier.id)")
        }
        return migrations
    }

    /// The migrations not yet recorded as applied.
    /// - Throws: ``MigrationError`` when an applied migration's file changed since, ``StoreError`` when the store fails.
    public func pending() async throws -> [Migration] {
        let all = try migrations()
        let applied = try await appliedChecksums()
        for migration in all {
            if let checksum = applied[migration.id], checksum != migration.checksum {
                throw MigrationError(migration: migration.id, reason: "its file changed after it was applied; add a new migration instead")
            }
        }
        return all.filter { applied[$0.id] == nil }
    }

    /// Applies every pending migration in order and returns those this call applied.
    @discardableResult
    public func applyPending() async throws -> [Migration] {
        let pending = try await pending()
        for migration in pending {
            try await apply(migration)
        }
        return pending
    }

    private func appliedChecksums() async throws -> [String: String] {
        let records = try await pool.withDatabase("read schema_migrations") { database in
            try database.collection(Collections.schemaMigrations).find([:])
        }
        var checksums: [String: String] = [:]
        for record in records {
            if let id = record["_id"]?.stringValue { checksums[id] = record["checksum"]?.stringValue ?? "" }
        }
        return checksums
    }

    private func apply(_ migration: Migration) async throws {
        let appliedAt = clock.now()
        try await pool.withDatabase("apply migration \(migration.id)") { database in
            for collection in migration.collections {
                try Self.createCollection(collection, in: database, migration: migration.id)
            }
            let indexesByCollection = Dictionary(grouping: migration.indexes) { $0["collection"]?.stringValue ?? "" }
            for (collection, indexes) in indexesByCollection.sorted(by: { $0.key < $1.key }) {
                let specs = indexes.map { BSON.document(BSONDocument($0.fields.filter { $0.key != "collection" }.map { ($0.key, $0.value) })) }
                _ = try database.command(
                    ["createIndexes": .string(collection), "indexes": .array(specs)], operation: "create indexes on \(collection) (\(migration.id))")
            }
            for index in migration.droppedIndexes {
                do {
                    _ = try database.command(
                        ["dropIndexes": .string(index.collection), "index": .string(index.name)],
                        operation: "drop index \(index.name) on \(index.collection) (\(migration.id))")
                } catch let error as StoreError where error.serverCode == indexNotFound || error.serverCode == namespaceNotFound {
                    // Dropped already, by an earlier attempt or a concurrent runner.
                }
            }
            let record: BSONDocument = [
                "$setOnInsert": .document([
                    "description": .string(migration.description),
                    "checksum": .string(migration.checksum),
                    "appliedAt": .date(appliedAt),
                ])
            ]
            do {
                try database.collection(Collections.schemaMigrations)
                    .updateOne(filter: ["_id": .string(migration.id)], update: record, upsert: true)
            } catch let error as StoreError where error.code == .duplicateKey {
                // A concurrent runner recorded the same migration between our filter and our insert.
            }
        }
    }

    private static func createCollection(_ spec: BSONDocument, in database: MongoDatabase, migration: String) throws {
        guard let name = spec["name"]?.stringValue else {
            throw MigrationError(migration: migration, reason: "a collection entry has no name")
        }
        let options = spec.fields.filter { ["validator", "validationLevel", "validationAction"].contains($0.key) }
        do {
            _ = try database.command(
                BSONDocument([("create", .string(name))] + options.map { ($0.key, $0.value) }), operation: "create \(name) (\(migration))")
        } catch let error as StoreError where error.serverCode == namespaceExists {
            guard !options.isEmpty else { return }
            _ = try database.command(
                BSONDocument([("collMod", .string(name))] + options.map { ($0.key, $0.value) }),
                operation: "update validator of \(name) (\(migration))")
        }
    }

    private func load(_ fileName: String) throws -> Migration {
        let id = String(fileName.dropLast(".json".count))
        guard let number = Int(id.prefix { $0.isNumber }), id.contains("_") else {
            throw MigrationError(migration: fileName, reason: "file names must look like NNNN_description.json")
        }
        let bytes: Data
        do {
            bytes = try Data(contentsOf: directory.appendingPathComponent(fileName))
        } catch {
            throw MigrationError(migration: id, reason: "cannot read the file: \(error)")
        }
        let json: JSONValue
        do {
            json = try JSONValue(parsing: bytes)
        } catch {
            throw MigrationError(migration: id, reason: "invalid JSON: \(error)")
        }
        guard case .document(let document) = BSON(json) else {
            throw MigrationError(migration: id, reason: "the file must hold a JSON object")
        }
        let indexes = try Self.objects("indexes", of: document, migration: id)
        for index in indexes where index["collection"]?.stringValue == nil || index["key"]?.documentValue == nil || index["name"]?.stringValue == nil
        {
            throw MigrationError(migration: id, reason: "every index needs collection, key and name")
        }
        let droppedIndexes = try Self.objects("dropIndexes", of: document, migration: id).map { index in
            guard let collection = index["collection"]?.stringValue, let name = index["name"]?.stringValue else {
                throw MigrationError(migration: id, reason: "every index to drop needs collection and name")
            }
            return Migration.DroppedIndex(collection: collection, name: name)
        }
        return Migration(
            id: id, number: number, description: document["description"]?.stringValue ?? "",
            checksum: SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined(),
            collections: try Self.objects("collections", of: document, migration: id),
            indexes: indexes, droppedIndexes: droppedIndexes)
    }

    /// The entries of the list `field`, which may be absent. Anything but a list of objects is refused rather than
    /// skipped: a mistyped migration must not be recorded as applied without having done its work.
    private static func objects(_ field: String, of document: BSONDocument, migration id: String) throws -> [BSONDocument] {
        guard let value = document[field] else { return [] }
        guard let entries = value.arrayValue, case let objects = entries.compactMap(\.documentValue), objects.count == entries.count else {
            throw MigrationError(migration: id, reason: "\(field) must be a list of objects")
        }
        return objects
    }
}

/// The server's code for `create` on a collection that exists.
private let namespaceExists = 48
/// The server's codes for `dropIndexes` of an index, or on a collection, that does not exist.
private let indexNotFound = 27
private let namespaceNotFound = 26
