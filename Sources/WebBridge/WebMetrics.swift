import Prometheus

/// The web bridge's own Prometheus series.
struct WebMetrics: Sendable {
    let openSockets: Gauge
    let conversationsCreated: Counter
    let messagesPosted: Counter
    private let limitedConversations: Counter
    private let limitedMessages: Counter

    init(registry: PrometheusCollectorRegistry) {
        openSockets = registry.makeGauge(
            name: "switchboard_web_sockets", help: "Visitor event WebSockets open now.")
        conversationsCreated = registry.makeCounter(
            name: "switchboard_web_conversations_created_total", help: "Conversations started from the web.")
        messagesPosted = registry.makeCounter(
            name: "switchboard_web_messages_total", help: "Visitor messages stored (HTTP and WebSocket).")
        let limitedHelp = "Requests refused by a per-IP rate limit."
        limitedConversations = registry.makeCounter(
            name: "switchboard_web_rate_limited_total", labels: [("limit", "conversations")], help: limitedHelp)
        limitedMessages = registry.makeCounter(
            name: "switchboard_web_rate_limited_total", labels: [("limit", "messages")], help: limitedHelp)
    }

    func rateLimited(_ kind: RateLimits.Kind) {
        switch kind {
        case .conversations: limitedConversations.increment()
        case .messages: limitedMessages.increment()
        }
    }
}
