import LiveChat
import Logging
import NIOCore

/// Stores a visitor's message, the same way for HTTP and the WebSocket:
/// validation, the per-IP message limit, then the gateway (which returns once
/// the message is committed).
struct MessagePoster: Sendable {
    let gateway: any VisitorGateway
    let limits: RateLimits
    let metrics: WebMetrics
    let logger: Logger

    func post(_ text: String?, conversation id: Int64, from address: SocketAddress?) async throws(APIError) -> ChatMessage {
        let text = try Validate.messageText(text)
        if let limited = limits.check(.messages, from: address) {
            metrics.rateLimited(.messages)
            throw limited
        }
        do {
            let message = try await gateway.postMessage(conversation: id, text: text)
            metrics.messagesPosted.increment()
            return message
        } catch {
            throw APIError(error)
        }
    }
}
