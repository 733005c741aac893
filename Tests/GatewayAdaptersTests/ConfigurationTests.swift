import GatewayAdapters
import GatewayCore
import Testing

@Suite("Configuration from environment and flags")
struct ConfigurationTests {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

    @Test func defaultsApplyWhenNothingIsSet() throws {
        let configuration = try GatewayConfiguration.load(environment: [:])
        #expect(configuration.httpHost == "127.0.0.1")
        #expect(configuration.httpPort == 8080)
        #expect(configuration.mongoURL == "mongodb://127.0.0.1:27017/gateway?retryWrites=false")
        #expect(configuration.redisURL == "redis://127.0.0.1:6379/0")
        #expect(configuration.maxBodyBytes == 262_144)
        #expect(configuration.signatureToleranceSeconds == 300)
        #expect(configuration.workerConcurrency == 256)
        #expect(configuration.workerEventsInFlight == 320, "a quarter more events than routing calls")
        #expect(configuration.ingestBatches == BatchLimits(maxBatch: 128, maxInFlight: 2, maxQueued: 4_096, maxBytes: 16 * 1_024 * 1_024))
    }

    @Test func ingestBatchingIsConfigurableDownToSingleInserts() throws {
        let configuration = try GatewayConfiguration.load(
            overrides: [.ingestQueueMax: "64"],
            environment: ["GATEWAY_INGEST_BATCH_MAX": "1", "GATEWAY_INGEST_BATCHES_IN_FLIGHT": "8", "GATEWAY_INGEST_QUEUE_MAX": "9"])
        #expect(configuration.ingestBatches == BatchLimits(maxBatch: 1, maxInFlight: 8, maxQueued: 64))
    }

    @Test func aWorkerOfOneRoutingCallStillHoldsAnEventBeyondIt() throws {
        let configuration = try GatewayConfiguration.load(environment: ["GATEWAY_WORKER_CONCURRENCY": "1"])
        #expect(configuration.workerEventsInFlight == 2)
    }

    @Test func flagsOverrideTheEnvironment() throws {
        let configuration = try GatewayConfiguration.load(
            overrides: [.httpPort: "9000"], environment: ["GATEWAY_HTTP_PORT": "8000", "GATEWAY_MAX_BODY_BYTES": "1024"])
        #expect(configuration.httpPort == 9000)
        #expect(configuration.maxBodyBytes == 1_024)
    }

    @Test func secretsParsePerSourceWithRotation() throws {
        let configuration = try GatewayConfiguration.load(environment: [
            "GATEWAY_WEBHOOK_SECRETS": "dhl=\(secret), whsec_b2xkIGtleQ==; ups=\(secret)"
        ])
        #expect(configuration.webhookSecrets["dhl"]?.count == 2)
        #expect(configuration.webhookSecrets["ups"]?.count == 1)
    }

    @Test(arguments: [
        ("GATEWAY_HTTP_PORT", "eighty", "GATEWAY_HTTP_PORT: 'eighty' is not a whole number"),
        ("GATEWAY_HTTP_PORT", "70000", "GATEWAY_HTTP_PORT: 70000 is outside 0…65535"),
        ("GATEWAY_MAX_BODY_BYTES", "0", "GATEWAY_MAX_BODY_BYTES: 0 is outside 1…16777216"),
        ("GATEWAY_INGEST_BATCH_MAX", "0", "GATEWAY_INGEST_BATCH_MAX: 0 is outside 1…10000"),
        ("GATEWAY_INGEST_BATCHES_IN_FLIGHT", "65", "GATEWAY_INGEST_BATCHES_IN_FLIGHT: 65 is outside 1…64"),
        ("GATEWAY_WEBHOOK_SECRETS", "dhl", "GATEWAY_WEBHOOK_SECRETS: each entry must be source=whsec_…[,whsec_…]"),
        (
            "GATEWAY_WEBHOOK_SECRETS", "dhl=plain-text-secret",
            "GATEWAY_WEBHOOK_SECRETS: a secret of source 'dhl' is unusable: a secret must be written whsec_<base64 key>"
        ),
        (
            "GATEWAY_WEBHOOK_SECRETS", "d h l=whsec_b2xkIGtleQ==",
            "GATEWAY_WEBHOOK_SECRETS: source 'd h l' may only use letters, digits, '-', '_' and '.'"
        ),
    ])
    func badValuesNameTheVariable(variable: String, value: String, message: String) {
        let error = #expect(throws: ConfigurationError.self) { try GatewayConfiguration.load(environment: [variable: value]) }
        #expect(error?.description == message)
        #expect(error?.description.contains("plain-text-secret") == false)
    }
}
