import GatewayCore

/// The `dead_letters` collection: one document per dead event, keyed by `{source, eventId}`.
enum DeadLetters {
    /// Upserts the dead letter of a dead event from its document, then removes the event's `deadLetterPending`
    /// flag; safe to repeat. The worker writes it after the dead outcome, the relay's reconciliation when the
    /// worker did not get to it.
    static func write(for event: BSONDocument, in database: MongoDatabase) throws {
        guard let source = event["source"], let eventId = event["eventId"] else { return }
        let deadLetter: BSONDocument = [
            "source": source, "eventId": eventId,
            "eventKey": .string("\(source.stringValue ?? ""):\(eventId.stringValue ?? "")"),
            "type": event["type"] ?? .null,
            "shipmentId": event["shipmentId"] ?? .null,
            "failureClass": event["failureClass"] ?? .null,
            "reason": event["failureClass"] ?? .null,
            "lastError": event["lastError"] ?? .null,
            "attempts": event["attempts"] ?? .int32(0),
            "history": event["history"] ?? .array([]),
            "payload": event["payload"] ?? .null,
            "receivedAt": event["receivedAt"] ?? .null,
            "deadAt": event["deadAt"] ?? .null,
        ]
        try database.collection(Collections.deadLetters).updateOne(
            filter: ["source": source, "eventId": eventId],
            // A new death of a replayed event makes its letter current again; `replays` keeps counting.
            update: [
                "$set": .document(deadLetter),
                "$unset": .document(["replayedAt": .string(""), "replayedBy": .string(""), "replayReason": .string("")]),
            ], upsert: true, acknowledgement: .redoable)
        if let id = event["_id"] {
            try database.collection(Collections.events).updateOne(
                filter: ["_id": id], update: ["$unset": .document(["deadLetterPending": .string("")])], acknowledgement: .redoable)
        }
    }
}
