/// A reason the command cannot run, printed as `Error: …` without the usage text (the flags were fine).
struct StartupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
