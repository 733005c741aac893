import ArgumentParser

/// The gateway's command-line entry point.
@main
struct Gateway: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "Courier Event Gateway: signed webhook ingest into a MongoDB inbox, relayed and processed exactly once.",
        discussion: """
            Every setting is read from its GATEWAY_* environment variable; the matching flag overrides it.
            Run `gateway <command> --help` for a command's settings.
            """,
        subcommands: [Serve.self, Migrate.self, Relay.self, Seed.self, Events.self, Sign.self])
}
