/// Message ids: a random per-process prefix and a counter, so ids are unique across
/// restarts, cheap to make and sort in creation order within one run.
final class MessageIDGenerator {
    private let prefix: String
    private var counter: UInt64 = 0
    private var batchCounter: UInt64 = 0

    init() {
        let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyz")
        var generator = SystemRandomNumberGenerator()
        prefix = String((0..<8).map { _ in alphabet[Int(generator.next(upperBound: UInt64(alphabet.count)))] })
    }

    func next() -> String {
        counter += 1
        return prefix + "-" + String(counter, radix: 36)
    }

    func batchReference() -> String {
        batchCounter += 1
        return "b" + String(batchCounter, radix: 36)
    }
}
