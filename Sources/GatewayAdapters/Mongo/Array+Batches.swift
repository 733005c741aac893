extension Array {
    /// The elements in consecutive slices of at most `size`, in order: for writes the store takes best in groups.
    package func batches(of size: Int) -> [[Element]] {
        stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min($0 + size, count)]) }
    }
}
