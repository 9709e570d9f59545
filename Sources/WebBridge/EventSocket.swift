import Foundation
import HummingbirdWebSocket
import LiveChat
import Logging
import NIOCore
import ServiceLifecycle

/// What the server sends on the events WebSocket: JSON objects with a `"type"`.
enum ServerFrame: Encodable {
    case event(VisitorEvent)
    case ack(clientID: ClientID?, message: ChatMessage)
    case error(APIError, clientID: ClientID?)

    private enum Keys: String, CodingKey {
        case type, id, at, author, text, active, reason, clientID = "client_id", error, message
        case retryAfter = "retry_after"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        switch self {
        case .event(.message(let message)):
            try container.encode("message", forKey: .type)
            try Self.encode(message, into: &container)
        case .event(.typing(let author, let active)):
            try container.encode("typing", forKey: .type)
            try container.encode(author, forKey: .author)
            try container.encode(active, forKey: .active)
        case .event(.operatorJoined(let author)):
            try container.encode("operator_joined", forKey: .type)
            try container.encode(author, forKey: .author)
        case .event(.operatorLeft(let author)):
            try container.encode("operator_left", forKey: .type)
            try container.encode(author, forKey: .author)
        case .event(.closed(let reason)):
            try container.encode("closed", forKey: .type)
            try container.encode(reason, forKey: .reason)        // null when none
        case .ack(let clientID, let message):
            try container.encode("ack", forKey: .type)
            try container.encode(clientID, forKey: .clientID)
            try container.encode(message.id, forKey: .id)
            try container.encode(Timestamp.string(message.at), forKey: .at)
        case .error(let error, let clientID):
            try container.encode("error", forKey: .type)
            try container.encode(error.code.rawValue, forKey: .error)
            try container.encode(error.message, forKey: .message)
            try container.encodeIfPresent(clientID, forKey: .clientID)
            try container.encodeIfPresent(error.retryAfter, forKey: .retryAfter)
        }
    }

    private static func encode(_ message: ChatMessage, into container: inout KeyedEncodingContainer<Keys>) throws {
        try container.encode(message.id, forKey: .id)
        try container.encode(Timestamp.string(message.at), forKey: .at)
        try container.encode(message.author, forKey: .author)
        try container.encode(message.text, forKey: .text)
    }
}

/// The widget's own id for a message it sends, echoed in the `ack`: a string or a number.
enum ClientID: Codable, Equatable, Sendable {
    case string(String)
    case number(Int64)

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Int64.self) {
            self = .number(number)
        } else {
            let text = try container.decode(String.self)
            guard text.utf8.count <= APILimits.maxClientIDLength else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "client_id is too long")
            }
            self = .string(text)
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let text): try container.encode(text)
        case .number(let number): try container.encode(number)
        }
    }
}

/// What the visitor may send: `{"type":"message","text","client_id"}` or `{"type":"typing"}`.
struct ClientFrame: Decodable {
    var type: String
    var text: String?
    var clientID: ClientID?

    enum CodingKeys: String, CodingKey {
        case type, text, clientID = "client_id"
    }
}

/// One visitor's events WebSocket: history after `?after=`, then live events,
/// and the visitor's own messages and typing notifications.
struct EventSocket: Sendable {
    let gateway: any VisitorGateway
    let poster: MessagePoster
    /// The web bridge's messages in progress (see `MessagesInFlight`).
    let posts: MessagesInFlight
    let metrics: WebMetrics
    let logger: Logger
    /// Largest message accepted from the visitor; a larger one gets an `error`.
    let maxFrameBytes: Int

    /// What the socket reads at most in one message; beyond it the connection is
    /// closed (1009). Up to it, a message over `maxFrameBytes` is read and refused
    /// in turn, after the answers to what came before it.
    static func readLimit(maxFrameBytes: Int) -> Int { maxFrameBytes * 4 }

    /// How often the visitor's typing notifications are passed on, at most.
    static let typingInterval: Duration = .seconds(1)
    /// How long a visitor has to answer the server's close frame before the
    /// connection is dropped: one whose network vanished must not hold a
    /// shutdown (or the socket) open.
    static let closeGrace: TimeAmount = .seconds(2)

    /// Serves one socket. `events` is the conversation's subscription, made before
    /// the upgrade was answered (one is made here without it). Throws what broke
    /// the visitor's side of the protocol (a message too large, text that is not
    /// UTF-8, a stray continuation frame), for the WebSocket layer to close the
    /// socket with the code that says so (1009, 1007, 1002).
    func run(conversation id: Int64, after: Int64?, events: AsyncStream<VisitorEvent>?, address: SocketAddress?,
             connection: any Channel, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async throws {
        metrics.openSockets.increment()
        defer { metrics.openSockets.decrement() }
        let writer = FrameWriter(outbound: outbound)
        // Subscribed before reading the history, so nothing falls in between;
        // whatever arrives twice is dropped by id.
        var subscription = events
        if subscription == nil { subscription = await gateway.events(conversation: id) }
        guard let events = subscription else { return }
        var replayed = Set<Int64>()
        do {
            if let after {
                var cursor = after
                while true {
                    let page = try await gateway.messages(conversation: id, after: cursor, limit: APILimits.pageSize)
                    for message in page.messages {
                        try await writer.send(.event(.message(message)))
                        replayed.insert(message.id)
                        cursor = max(cursor, message.id)
                    }
                    if !page.more || page.messages.isEmpty { break }
                }
            }
        } catch {
            logger.debug("events socket ended during replay", metadata: ["conversation": "\(id)", "error": "\(error)"])
            try? await outbound.close(.goingAway, reason: nil)
            closeSoon(connection)
            return
        }

        let alreadySent = replayed
        // On shutdown HummingbirdWebSocket sends a close frame and waits for the answer
        // with no time limit: a visitor whose network vanished would hold the whole
        // shutdown (and the IRC clients' ERROR) up for good.
        let broken = await withGracefulShutdownHandler {
            await serve(events, conversation: id, skipping: alreadySent, address: address, connection: connection,
                        inbound: inbound, writer: writer, outbound: outbound)
        } onGracefulShutdown: {
            closeSoon(connection)
        }
        if let broken { throw broken }
    }

    /// Live events out and the visitor's frames in, until either side ends; what
    /// broke the visitor's frames, if that is how it ended.
    private func serve(_ events: AsyncStream<VisitorEvent>, conversation id: Int64, skipping alreadySent: Set<Int64>,
                       address: SocketAddress?, connection: any Channel, inbound: WebSocketInboundStream,
                       writer: FrameWriter, outbound: WebSocketOutboundWriter) async -> (any Error)? {
        let posting = MessagesInFlight()   // this socket's
        return await withTaskGroup(of: (any Error)?.self) { group in
            group.addTask {
                await self.forward(events, conversation: id, skipping: alreadySent, writer: writer, outbound: outbound,
                                   posting: posting)
                return nil
            }
            group.addTask {
                await self.receive(conversation: id, address: address, inbound: inbound, writer: writer, posting: posting)
            }
            // Whichever ends first (the conversation closed, or the visitor left) ends the other.
            let broken = await group.next() ?? nil
            group.cancelAll()
            closeSoon(connection)
            return broken
        }
    }

    /// Drops the connection after `closeGrace`, unless it ended by then.
    private func closeSoon(_ connection: any Channel) {
        connection.eventLoop.scheduleTask(in: Self.closeGrace) { connection.close(promise: nil) }
    }

    /// Live events to the visitor until the stream ends; then closes the socket.
    /// The gateway ends the stream after a `closed` event when the conversation
    /// closes; a stream that ends without one means the server is stopping, and
    /// the widget will reconnect (so no `closed` is made up here).
    private func forward(_ events: AsyncStream<VisitorEvent>, conversation id: Int64, skipping replayed: Set<Int64>,
                         writer: FrameWriter, outbound: WebSocketOutboundWriter, posting: MessagesInFlight) async {
        var replayed = replayed
        let newestReplayed = replayed.max() ?? 0
        var sentClosed = false
        do {
            for await event in events {
                if case .message(let message) = event, !replayed.isEmpty {
                    if replayed.contains(message.id) { continue }
                    if message.id > newestReplayed { replayed.removeAll() }   // past the overlap
                }
                if case .closed = event {
                    // A message the visitor sent on this socket before the close was stored
                    // first (the close waits for it): its ack goes out before `closed`.
                    await posting.finished()
                }
                try await writer.send(.event(event))
                if case .closed = event {
                    sentClosed = true
                    break
                }
            }
            if Task.isCancelled { return }              // the visitor left
            if sentClosed {
                try await outbound.close(.normalClosure, reason: "conversation closed")
            } else {
                try await outbound.close(.goingAway, reason: "server shutting down")
            }
        } catch {
            logger.debug("events socket write failed", metadata: ["conversation": "\(id)", "error": "\(error)"])
        }
    }

    /// The visitor's frames until the socket closes; the error that ended them, if one did.
    private func receive(conversation id: Int64, address: SocketAddress?, inbound: WebSocketInboundStream, writer: FrameWriter,
                         posting: MessagesInFlight) async -> (any Error)? {
        var lastTyping: ContinuousClock.Instant?
        var iterator = inbound.messages(maxSize: Self.readLimit(maxFrameBytes: maxFrameBytes)).makeAsyncIterator()
        do {
            while let message = try await iterator.next() {
                guard case .text(let text) = message else {
                    try await writer.send(.error(.badRequest("Send JSON objects in text frames."), clientID: nil))
                    continue
                }
                if text.utf8.count > maxFrameBytes {
                    let error = APIError(.contentTooLarge, .bodyTooLarge, "Messages on the socket are limited to \(maxFrameBytes) bytes.")
                    let frame = try? JSONDecoder().decode(ClientFrame.self, from: Data(text.utf8))
                    try await writer.send(.error(error, clientID: frame?.clientID))
                    continue
                }
                let frame: ClientFrame
                do {
                    frame = try JSONDecoder().decode(ClientFrame.self, from: Data(text.utf8))
                } catch {
                    try await writer.send(.error(.badRequest("Expected {\"type\":\"message\",\"text\":...,\"client_id\":...} or {\"type\":\"typing\"}."), clientID: nil))
                    continue
                }
                switch frame.type {
                case "message":
                    guard await posts.begin() else {
                        let stopping = APIError(.serviceUnavailable, .unavailable, "The server is shutting down; the message was not stored. Send it again once reconnected.")
                        try await writer.send(.error(stopping, clientID: frame.clientID))
                        continue
                    }
                    await posting.begin()
                    do {
                        try await writer.send(await post(frame, conversation: id, address: address))
                    } catch {
                        await posting.end()
                        await posts.end()
                        throw error
                    }
                    await posting.end()
                    await posts.end()
                case "typing":
                    let now = ContinuousClock.now
                    if lastTyping.map({ now - $0 >= Self.typingInterval }) ?? true {
                        lastTyping = now
                        await gateway.visitorTyping(conversation: id)
                    }
                default:
                    try await writer.send(.error(.badRequest("Unknown frame type \"\(frame.type)\"."), clientID: frame.clientID))
                }
            }
        } catch {
            logger.debug("events socket read ended", metadata: ["conversation": "\(id)", "error": "\(error)"])
            return error
        }
        return nil
    }

    /// Stores a message sent on the socket; the answer is its `ack` or an `error`.
    private func post(_ frame: ClientFrame, conversation id: Int64, address: SocketAddress?) async -> ServerFrame {
        do {
            let message = try await poster.post(frame.text, conversation: id, from: address)
            return .ack(clientID: frame.clientID, message: message)
        } catch {
            return .error(error, clientID: frame.clientID)
        }
    }
}

/// Encodes frames and writes them one at a time.
struct FrameWriter: Sendable {
    let outbound: WebSocketOutboundWriter

    func send(_ frame: ServerFrame) async throws {
        try await outbound.write(.text(try JSON.string(frame)))
    }
}
