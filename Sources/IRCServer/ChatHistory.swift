import Foundation
import IRCProtocol
import NIOCore
import Storage
import Synchronization

/// What chat history and read markers keep on the server's loop: the channel
/// messages not yet written, and the read markers of the accounts seen so far.
final class ChatHistoryState {
    // MARK: Archive of channel messages

    /// Relayed, not yet handed to the database, oldest first.
    var buffer: [PendingChannelMessage] = []
    /// Sequence number of the last message buffered.
    var archived: UInt64 = 0
    /// Sequence number of the last message written (or given up on).
    var written: UInt64 = 0
    /// A batch is being written; the next one waits for it.
    var writing = false
    var timerScheduled = false
    /// Waiting for the messages up to a sequence number to be written.
    var waiters: [(upTo: UInt64, promise: EventLoopPromise<Void>)] = []
    /// Which channels to prune, decided where the batches are written.
    let pruning = ArchivePruning()

    // MARK: Read markers

    /// Lowercased login -> folded target -> milliseconds since 1970.
    var markers: [String: [String: Int64]] = [:]
    /// Accounts whose markers are being read, with what waits for them.
    var loadingMarkers: [String: [(ServerState) -> Void]] = [:]
}

/// A channel message as relayed, kept until it is written.
struct PendingChannelMessage: Sendable {
    let channel: String
    let event: IRCMessage
}

/// Counts the messages written per channel since its last pruning: a channel
/// is pruned the first time this process writes to it, then once per
/// `ServerState.archivePruneEvery` messages. Used by one batch at a time, on
/// the thread pool.
final class ArchivePruning: Sendable {
    private let counts = Mutex<[String: Int]>([:])

    /// The channels of `messages` due for pruning.
    func due(_ messages: [ChannelMessage]) -> [String] {
        let every = ServerState.archivePruneEvery
        return counts.withLock { counts in
            if counts.count > 10_000 { counts.removeAll() }
            var due: [String] = []
            for message in messages {
                let count = counts[message.channel, default: every] + 1
                if count > every {
                    due.append(message.channel)
                    counts[message.channel] = 0
                } else {
                    counts[message.channel] = count
                }
            }
            return due
        }
    }
}

/// The archive of ordinary channel messages. Nothing is written on the fan-out
/// path: a message joins a buffer on the loop, and the buffer goes to the
/// database in batches, one transaction each, on the thread pool — every 200 ms,
/// or at once past 500 messages, one batch at a time (what arrives meanwhile
/// makes the next batch). Turning the relayed events into stored messages is
/// done there too. Reads wait for what was buffered before them to be written,
/// so history never misses a message that was already relayed.
extension ServerState {
    static let archiveBatchSize = 500
    static let archiveInterval = TimeAmount.milliseconds(200)
    /// Past this many unwritten messages (the disk cannot keep up), the oldest are dropped.
    static let archiveBacklogLimit = 100_000
    /// A channel is pruned to its retention once per this many new messages.
    static let archivePruneEvery = 1_000

    var channelHistoryStore: ChannelHistoryStore { database.channelHistory }

    /// Keeps ordinary channel messages for draft/chathistory.
    func archiveChannelMessage(_ event: IRCMessage, in channel: IRCChannel) {
        guard channel.conversation == nil else { return }
        let history = chatHistory
        history.buffer.append(PendingChannelMessage(channel: channel.folded, event: event))
        history.archived &+= 1
        if history.buffer.count >= Self.archiveBatchSize {
            if history.buffer.count > Self.archiveBacklogLimit { dropArchiveBacklog() }
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

    private func dropArchiveBacklog() {
        let dropped = chatHistory.buffer.count - Self.archiveBacklogLimit + Self.archiveBatchSize
        chatHistory.buffer.removeFirst(dropped)
        logger.warning("chat history is behind: dropped the oldest unwritten messages", metadata: ["count": "\(dropped)"])
    }

    /// Hands the buffer to the thread pool as one batch, unless a batch is being written.
    private func startArchiveWrite() {
        let history = chatHistory
        guard !history.writing, !history.buffer.isEmpty else { return }
        let batch = history.buffer
        history.buffer = []
        history.buffer.reserveCapacity(min(batch.count, Self.archiveBatchSize))
        let upTo = history.archived
        history.writing = true
        let store = channelHistoryStore
        let pruning = history.pruning
        let bound = NIOLoopBound(self, eventLoop: loop)
        authenticator.pool.runIfActive(eventLoop: loop) {
            let messages = batch.compactMap(Self.channelMessage(from:))
            try store.append(messages, prune: pruning.due(messages))
        }.whenComplete { result in
            let state = bound.value
            if case .failure(let error) = result {
                state.logger.error("could not store channel history", metadata: ["error": "\(error)", "messages": "\(batch.count)"])
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

    /// The stored form of a relayed message (made on the thread pool).
    static func channelMessage(from pending: PendingChannelMessage) -> ChannelMessage? {
        let event = pending.event
        guard event.params.count >= 2, let source = event.source else { return nil }
        var msgid: String?
        var at: Date?
        var account: String?
        var others: [IRCTag] = []
        for tag in event.tags {
            switch tag.key {
            case "time": at = ServerTime.parse(tag.value)
            case "msgid": msgid = tag.value
            case "account": account = tag.value
            case "batch", "label": continue
            default: others.append(tag)
            }
        }
        guard let msgid else { return nil }
        return ChannelMessage(
            channel: pending.channel, name: event.params[0], msgid: msgid, at: at ?? Date(), source: source,
            account: account, command: event.command, text: event.params[1], tags: serializedTags(others))
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
