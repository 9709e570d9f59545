import CoreMetrics

/// What the IRC side reports on /metrics. Counts are accumulated by the state on
/// its loop and published once a second, so the fan-out path never touches a metric.
struct ServerMetrics: Sendable {
    let connections: Gauge
    let registered: Gauge
    let channels: Gauge
    let messages: Counter
    let deliveries: Counter

    init(factory: any MetricsFactory) {
        connections = Gauge(label: "switchboard_irc_connections", dimensions: [], factory: factory)
        registered = Gauge(label: "switchboard_irc_registered_clients", dimensions: [], factory: factory)
        channels = Gauge(label: "switchboard_irc_channels", dimensions: [], factory: factory)
        messages = Counter(label: "switchboard_irc_messages_total", dimensions: [], factory: factory)
        deliveries = Counter(label: "switchboard_irc_deliveries_total", dimensions: [], factory: factory)
    }
}
