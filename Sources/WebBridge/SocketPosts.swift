/// The visitors' messages on events sockets that are being stored and answered.
///
/// On shutdown the WebSocket layer sends its close frame at once; a message stored
/// just before would then never get its `ack`, and the widget, which sends again what
/// was not acknowledged, would post it twice. So the web bridge first stops taking
/// new socket messages (they get an `unavailable` error, and are not stored), waits
/// for those in progress to be answered, and only then lets the sockets close.
actor SocketPosts {
    private var active = 0
    private var draining = false
    private var idle: [CheckedContinuation<Void, Never>] = []

    /// Whether a message may be taken; if so, `end()` must follow its answer.
    func begin() -> Bool {
        guard !draining else { return false }
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

    /// Refuses new messages and returns once none is in progress.
    func drain() async {
        draining = true
        guard active > 0 else { return }
        await withCheckedContinuation { idle.append($0) }
    }
}
