import CoreMetrics

/// What the IRC side reports on /metrics. Counts are accumulated by the state on
/// its loop and published once a second, so the fan-out path never touches a metric.
struct ServerMetrics: Sendable {
    let connections: Gauge
    let registered: Gauge
    let channels: Gauge
    let messages: Counter
    let deliveries: Counter

    /// The series, with what each one counts (Prometheus `# HELP`).
    static let help = [
        "switchboard_irc_connections": "IRC connections open now, registered or not.",
        "switchboard_irc_registered_clients": "Connections logged in to an operator account now (bots included).",
        "switchboard_irc_channels": "IRC channels that exist now, conversation channels included.",
        "switchboard_irc_messages_total": "PRIVMSG, NOTICE and TAGMSG messages sent by clients, one per target.",
        "switchboard_irc_deliveries_total": "Messages written to recipients by channel and private message fan-out, one per recipient.",
    ]

    init(factory: any MetricsFactory) {
        connections = Gauge(label: "switchboard_irc_connections", dimensions: [], factory: factory)
        registered = Gauge(label: "switchboard_irc_registered_clients", dimensions: [], factory: factory)
        channels = Gauge(label: "switchboard_irc_channels", dimensions: [], factory: factory)
        messages = Counter(label: "switchboard_irc_messages_total", dimensions: [], factory: factory)
        deliveries = Counter(label: "switchboard_irc_deliveries_total", dimensions: [], factory: factory)
    }
}
