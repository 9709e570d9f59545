/// Visitor messages from events sockets that are being stored and answered. Two
/// counts use it:
///
/// - one per socket: its `closed` event waits for them, so a message stored just
///   before the close is never left without its `ack`;
/// - one for the web bridge: on shutdown the WebSocket layer sends its close frame
///   at once, so the bridge first stops taking socket messages (they get an
///   `unavailable` error, and are not stored) and waits for those in progress to
///   be answered; only then are the sockets closed. Otherwise a message stored just
///   before would never get its `ack`, and the widget, which sends again what was
///   not acknowledged, would post it twice.
actor MessagesInFlight {
    private var active = 0
    private var refusing = false
    private var idle: [CheckedContinuation<Void, Never>] = []

    /// Whether a message may be taken; if so, `end()` must follow its answer.
    @discardableResult
    func begin() -> Bool {
        guard !refusing else { return false }
        active += 1
        return true
    }

    func end() {
        active -= 1
        guard active == 0 else { return }
        let waiting = idle
        idle = []
        for continuation in waiting { continuation.resume() }
    }

    /// Returns once no message is in progress.
    func finished() async {
        guard active > 0 else { return }
        await withCheckedContinuation { idle.append($0) }
    }

    /// Refuses new messages from now on, and returns once none is in progress.
    func drain() async {
        refusing = true
        await finished()
    }
}
