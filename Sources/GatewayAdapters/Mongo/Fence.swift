/// The compare-and-set condition of a conditional write: this document, at this version.
///
/// Every conditional write of the stores filters on `_id` first. SecantusDB answers such a filter from the `_id`
/// index and checks the other conditions on that one document, but scans the collection for a filter it cannot
/// start from an index (160 ms at 5,000 events). So the claim rules are checked in Swift on the document just
/// read, and the version makes the write a compare-and-set: a concurrent change makes it match nothing
/// instead of overwriting.
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

