/// Message ids: a random per-process prefix and a counter, so ids are unique across
/// restarts, cheap to make and sort in creation order within one run.
final class MessageIDGenerator {
    private static let digits = Array("0123456789abcdefghijklmnopqrstuvwxyz".utf8)
    /// The prefix and its dash, as bytes.
    private let prefix: [UInt8]
    private var counter: UInt64 = 0
    private var batchCounter: UInt64 = 0

    init() {
        var generator = SystemRandomNumberGenerator()
        prefix = (0..<8).map { _ in Self.digits[Int(generator.next(upperBound: UInt64(Self.digits.count)))] } + [UInt8(ascii: "-")]
    }

    /// `prefix-counter` with the counter in base 36. Written byte by byte: up to
    /// 15 bytes it is a small string, stored inline with no allocation.
    func next() -> String {
        counter += 1
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { buffer in
            var value = counter
            var end = 32
            repeat {
                end -= 1
                buffer[end] = Self.digits[Int(value % 36)]
                value /= 36
            } while value > 0
            let start = end - prefix.count
            for (offset, byte) in prefix.enumerated() { buffer[start + offset] = byte }
            return String(decoding: UnsafeBufferPointer(rebasing: buffer[start..<32]), as: UTF8.self)
        }
    }

    func batchReference() -> String {
        batchCounter += 1
        return "b" + String(batchCounter, radix: 36)
    }
}
