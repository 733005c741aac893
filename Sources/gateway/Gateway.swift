import ArgumentParser
import NIOCore
import NIOPosix

/// The gateway's command-line entry point.
struct Gateway: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "Courier Event Gateway: signed webhook ingest into a MongoDB inbox, relayed and processed exactly once.",
        discussion: """
            Every setting is read from its GATEWAY_* environment variable; the matching flag overrides it.
            Run `gateway <command> --help` for a command's settings. Commands that read the store print aligned \
            tables, or one JSON document with --json. Exit status: 0 success; 1 a failure, or what the command \
            checks does not hold (check, audit verify, dlq replay with skipped events); 2 check or audit verify could \
            not run (the store unreadable, no audit key); 64 a wrong command line.
            """,
        subcommands: [
            Serve.self, Migrate.self, Relay.self, Seed.self, Events.self, Shipment.self, DeadLetterQueue.self, Stats.self, Check.self, Audit.self,
            Health.self, Sign.self,
        ])
}

/// Runs the command with SwiftNIO's event loops as Swift Concurrency's executor.
@main
enum GatewayMain {
    static func main() async {
        // Request handlers then run on the event loop that does the I/O, instead of hopping to the
        // cooperative pool and back for every request. Safe because no task here blocks a thread: every
        // blocking driver call runs on the stores' own thread pools.
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        await Gateway.main()
    }
}
