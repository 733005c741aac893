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
