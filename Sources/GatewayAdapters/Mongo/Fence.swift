/// The compare-and-set condition of a conditional write: this document, at this version.
///
/// Every conditional write of the stores filters on a unique key first: `_id`, or a shipment's `shipmentId`
/// (with ``condition(_:)``). SecantusDB answers such a filter from that index and checks the other conditions
/// on that one document, but scans the collection for a filter it cannot start from an index (160 ms at 5,000
/// events). So the rules are checked in Swift on the document read, and the version makes the write a
/// compare-and-set: a concurrent change makes it match nothing instead of overwriting. (Grouped claims start
/// from `_id: {$in: …}` and repeat the claim rule instead; see `MongoEventRepository.claimOnce`.)
struct Fence {
    let id: String
    let version: Int

    init(id: String, version: Int) {
        self.id = id
        self.version = version
    }

    init?(_ document: BSONDocument) {
        guard case .objectId(let id) = document["_id"] else { return nil }
        self.init(id: id, version: document["version"]?.intValue ?? 0)
    }

    var filter: BSONDocument {
        ["_id": .objectId(id), "version": Self.condition(version)]
    }

    /// The filter condition of a document at `version`.
    static func condition(_ version: Int) -> BSON {
        // A document written by another system may have no version yet; `null` matches the missing field.
        version == 0 ? .document(["$in": .array([.int32(0), .null])]) : .int64(Int64(version))
    }
}
