import Foundation
import IRCProtocol
import NIOCore
import Storage

/// What chat history and read markers keep on the server's loop: the channel
/// messages not yet written, and the read markers of the accounts seen so far.
final class ChatHistoryState {
    // MARK: Archive of channel messages

    /// Relayed, not yet handed to the database, oldest first.
    var buffer = ChannelHistoryBatch()
    /// Messages not archived because the backlog was full, not yet logged.
    var skipped = 0
    /// Sequence number of the last message buffered.
    var archived: UInt64 = 0
    /// Sequence number of the last message written (or given up on).
    var written: UInt64 = 0
    /// A batch is being written; the next one waits for it.
    var writing = false
    var timerScheduled = false
    /// Waiting for the messages up to a sequence number to be written.
    var waiters: [(upTo: UInt64, promise: EventLoopPromise<Void>)] = []

    // MARK: Read markers

    /// Lowercased login -> folded target -> milliseconds since 1970.
    var markers: [String: [String: Int64]] = [:]
    /// Accounts whose markers are being read, with what waits for them.
    var loadingMarkers: [String: [(ServerState) -> Void]] = [:]
}

/// The archive of ordinary channel messages. Nothing is written on the fan-out
/// path: a message is copied, in its stored form, into a buffer on the loop
/// (`ChannelHistoryBatch`: straight into the chunk its channel will store, no
/// allocation per message), and the buffer goes to the database in batches, one
/// transaction each, on the thread pool — every 200 ms, or at once past 100,000
/// messages, one batch at a time (what arrives meanwhile makes the next batch).
/// Large batches matter when many channels are busy at once: the store writes
/// one row per channel and batch, so a batch that holds several messages of each
/// channel costs a fraction of one row per message. (At 300,000 messages a
/// second over 500 channels, writing at 20,000 messages made rows of about 40
/// messages and a quarter of the server's work per message was the archive's;
/// at 100,000 the 200 ms batches make rows of about 180, for 12 % less work per
/// message: docs/benchmarks.md, run AG.) Reads wait for what was
/// buffered before them to be written, so history never misses a message that
/// was already relayed.
extension ServerState {
    static let archiveBatchSize = 100_000
    static let archiveInterval = TimeAmount.milliseconds(200)
    /// Past this many unwritten messages (the disk cannot keep up), new ones are not archived.
    static let archiveBacklogLimit = 400_000

    var channelHistoryStore: ChannelHistoryStore { database.channelHistory }

    /// Keeps ordinary channel messages for draft/chathistory.
    func archiveChannelMessage(_ event: IRCMessage, in channel: IRCChannel) {
        guard channel.conversation == nil, event.params.count >= 2, let source = event.source else { return }
        var msgid: String?
        var at: Int64?
        var account: String?
        var others: [IRCTag] = []
        for tag in event.tags {
            switch tag.key {
            case "time": at = serverTime.milliseconds(of: tag.value)
            case "msgid": msgid = tag.value
            case "account": account = tag.value
            case "batch", "label": continue
            default: others.append(tag)
            }
        }
        guard let msgid else { return }
        archive(in: channel, name: event.params[0], msgid: msgid, at: at ?? serverTime.nowMilliseconds(), source: source,
                account: account, notice: event.command == "NOTICE", text: event.params[1], tags: Self.serializedTags(others))
    }

    /// Adds one message of an ordinary channel to the archive's next batch, and
    /// starts or schedules its write.
    func archive(in channel: IRCChannel, name: String, msgid: String, at: Int64, source: String, account: String?,
                 notice: Bool, text: String, tags: String?) {
        let history = chatHistory
        if history.buffer.count >= Self.archiveBacklogLimit {
            history.skipped += 1
            return
        }
        history.buffer.append(
            channel: channel.folded, name: name, msgid: msgid, at: at, source: source, account: account, notice: notice,
            text: text, tags: tags, slot: &channel.archiveSlot)
        history.archived &+= 1
        if history.buffer.count >= Self.archiveBatchSize {
            startArchiveWrite()
        } else if !history.timerScheduled, !history.writing {
            scheduleArchiveWrite()
        }
    }

    /// Resolves once every message archived so far is written (or given up on).
    /// Also what shutdown waits for.
    func flushChannelHistory() -> EventLoopFuture<Void> {
        let history = chatHistory
        let target = history.archived
        if history.written >= target { return loop.makeSucceededVoidFuture() }
        let promise = loop.makePromise(of: Void.self)
        history.waiters.append((target, promise))
        startArchiveWrite()
        return promise.futureResult
    }

    private func scheduleArchiveWrite() {
        chatHistory.timerScheduled = true
        let bound = NIOLoopBound(self, eventLoop: loop)
        loop.scheduleTask(in: Self.archiveInterval) {
            let state = bound.value
            state.chatHistory.timerScheduled = false
            state.startArchiveWrite()
        }
    }

    /// Hands the buffer to the thread pool as one batch, unless a batch is being written.
    private func startArchiveWrite() {
        let history = chatHistory
        guard !history.writing, !history.buffer.isEmpty else { return }
        let batch = history.buffer
        history.buffer = ChannelHistoryBatch(after: batch)
        if history.skipped > 0 {
            logger.warning("chat history is behind: messages were not archived", metadata: ["count": "\(history.skipped)"])
            history.skipped = 0
        }
        let upTo = history.archived
        history.writing = true
        let store = channelHistoryStore
        let bound = NIOLoopBound(self, eventLoop: loop)
        let count = batch.count
        // The batch is released on the thread pool, not on the loop.
        authenticator.pool.runIfActive(eventLoop: loop) {
            try store.append(batch)
        }.whenComplete { result in
            let state = bound.value
            if case .failure(let error) = result {
                state.logger.error("could not store channel history", metadata: ["error": "\(error)", "messages": "\(count)"])
            }
            state.archiveWritten(upTo: upTo)
        }
    }

    private func archiveWritten(upTo: UInt64) {
        let history = chatHistory
        history.writing = false
        history.written = upTo
        if !history.waiters.isEmpty {
            var waiting: [(upTo: UInt64, promise: EventLoopPromise<Void>)] = []
            for waiter in history.waiters {
                if waiter.upTo <= upTo { waiter.promise.succeed() } else { waiting.append(waiter) }
            }
            history.waiters = waiting
        }
        guard !history.buffer.isEmpty else { return }
        if history.buffer.count >= Self.archiveBatchSize || !history.waiters.isEmpty {
            startArchiveWrite()
        } else if !history.timerScheduled {
            scheduleArchiveWrite()
        }
    }

    /// `a=1;+b` for the tags, nil for none.
    static func serializedTags(_ tags: [IRCTag]) -> String? {
        guard !tags.isEmpty else { return nil }
        let line = IRCMessage(tags: tags, command: "X").serialized()
        // "@a=1;+b X"
        return String(line.dropFirst().dropLast(2))
    }

    static func parsedTags(_ text: String?) -> [IRCTag] {
        guard let text, !text.isEmpty else { return [] }
        return (try? IRCMessage.parse("@" + text + " X").tags) ?? []
    }
}
