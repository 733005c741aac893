import Foundation
import GatewayIntegrationSupport
import Testing

@testable import GatewayAdapters

/// The compose file, the Dockerfile and `.env.example` only name settings the gateway reads, and `.env.example` lists
/// every value compose takes from the environment. (`make compose-check` validates the compose file's syntax.)
@Suite("docker-compose.yml, Dockerfile and .env.example")
struct DeploymentFilesTests {
    private func text(_ name: String) throws -> String {
        try String(contentsOf: TestServices.repositoryRoot.appendingPathComponent(name), encoding: .utf8)
    }

    @Test func everyGatewayVariableTheyNameIsASettingTheGatewayReads() throws {
        let settings = Set(Setting.allCases.map(\.rawValue))
        for file in ["docker-compose.yml", "Dockerfile", ".env.example"] {
            let named = Set(try text(file).matches(of: /GATEWAY_[A-Z0-9_]+/).map { String($0.output) })
            #expect(!named.isEmpty, "\(file) names no setting")
            #expect(named.subtracting(settings).isEmpty, "\(file) names variables the gateway does not read: \(named.subtracting(settings).sorted())")
        }
    }

    @Test func envExampleListsEveryValueComposeTakesFromTheEnvironment() throws {
        let interpolated = Set(try text("docker-compose.yml").matches(of: /\$\{([A-Z0-9_]+)/).map { String($0.output.1) })
        let listed = Set(try text(".env.example").matches(of: /(?m)^([A-Z0-9_]+)=/).map { String($0.output.1) })
        #expect(!interpolated.isEmpty)
        #expect(interpolated.subtracting(listed).isEmpty, ".env.example lacks \(interpolated.subtracting(listed).sorted())")
    }

    @Test func everyServiceOfTheGatewayHasAHealthcheck() throws {
        let compose = try text("docker-compose.yml")
        for role in ["api", "relay", "worker"] {
            #expect(compose.contains(#"test: ["CMD", "gateway", "health", "--role", "\#(role)"]"#), "the \(role) service has no healthcheck")
        }
    }
}
