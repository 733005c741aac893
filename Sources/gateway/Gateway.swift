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
            Run `gateway <command> --help` for a command's settings.
            """,
        subcommands: [Serve.self, Migrate.self, Relay.self, Seed.self, Events.self, DeadLetterQueue.self, Stats.self, Check.self, Sign.self])
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
