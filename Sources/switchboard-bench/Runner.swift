#if os(Linux)
import Foundation
import NIOCore
import NIOPosix

/// The scenario sizes and pacing, the same for every server of a run.
struct Settings: Sendable, Codable {
    var idle: Int
    var members: Int
    var fanoutMessages: Int
    var fanoutSenders: Int
    var fanoutWindow: Int
    var pairs: Int
    var pairMessages: Int
    var pairWindow: Int
    var textSize: Int
    var rounds: Int
    var warmup: Bool
    var connectConcurrency: Int
    var registrationTimeout: Double
    var phaseTimeout: Double
    var threads: Int
    var quickAck: QuickAck
}

/// Whether clients acknowledge every read at once (`TCP_QUICKACK`).
///
/// A server that leaves Nagle's algorithm on (InspIRCd) holds its next small
/// writes until the client's ACK, which Linux delays by up to 40 ms: quick ACKs
/// keep it from stalling. A server that sets `TCP_NODELAY` never waits for an
/// ACK, and quick ACKs only add packets for it to process: each server gets the
/// client behaviour that suits it (docs/benchmarks.md has the figures).
enum QuickAck: String, Sendable, Codable, CaseIterable {
    case auto, on, off

    func enabled(forServer label: String) -> Bool {
        switch self {
        case .on: return true
        case .off: return false
        case .auto: return label.lowercased() != "switchboard"
        }
    }
}

/// The server a runner talks to.
struct Target: Sendable {
    var label: String
    /// A loopback IP address (127.0.0.0/8 or ::1).
    var host: String = "127.0.0.1"
    var port: Int
    var password: String?
    var pid: Int32?
    /// Whether its clients re-arm TCP_QUICKACK after every read (see `QuickAck`).
    var quickAck: Bool
    var isAlive: @Sendable () -> Bool
}

struct RoundResult: Sendable, Codable {
    var expected: Int
    var sent: Int
    var delivered: Int
    var seconds: Double
    var deliveriesPerSecond: Double
    var p50Millis: Double
    var p99Millis: Double
    var maxMillis: Double
    var complete: Bool
    /// CPU used during the round, in percent of one core (100 = one core busy).
    var serverCPUPercent: Double?
    var clientCPUPercent: Double?
}

struct ScenarioResult: Sendable, Codable {
    var name: String
    var description: String
    var rounds: [RoundResult]
    /// The round with the median deliveries per second.
    var median: RoundResult

    init(name: String, description: String, rounds: [RoundResult]) {
        self.name = name
        self.description = description
        self.rounds = rounds
        let sorted = rounds.sorted { $0.deliveriesPerSecond < $1.deliveriesPerSecond }
        median = sorted[sorted.count / 2]
    }
}

extension ServerResult {
    /// Several runs of one server as one: every round of every run, the median
    /// round among them, and the median memory figure (a run whose clients did
    /// not all register counts as such).
    static func pooled(_ runs: [ServerResult]) -> ServerResult? {
        guard var pooled = runs.first else { return nil }
        guard runs.count > 1 else { return pooled }
        func scenario(_ pick: (ServerResult) -> ScenarioResult?) -> ScenarioResult? {
            let all = runs.compactMap(pick)
            guard let first = all.first, !all.flatMap(\.rounds).isEmpty else { return nil }
            return ScenarioResult(name: first.name, description: first.description, rounds: all.flatMap(\.rounds))
        }
        pooled.fanout = scenario(\.fanout)
        pooled.pairs = scenario(\.pairs)
        let memory = runs.compactMap(\.kibPerIdleConnection).sorted()
        pooled.kibPerIdleConnection = memory.isEmpty ? nil : memory[memory.count / 2]
        pooled.idleRegistered = runs.map(\.idleRegistered).min() ?? 0
        return pooled
    }
}

struct ServerResult: Sendable, Codable {
    var label: String
    var pid: Int32?
    /// Whether the clients re-armed TCP_QUICKACK after every read.
    var quickAck: Bool?
    var idleRequested: Int
    var idleRegistered: Int
    var idleSeconds: Double?
    var rssBeforeKiB: Int?
    var rssAfterIdleKiB: Int?
    var kibPerIdleConnection: Double?
    var rssEndKiB: Int?
    var fanout: ScenarioResult?
    var pairs: ScenarioResult?
    var lostConnections: Int
    var errors: [String]
    /// /proc/loadavg (1, 5, 15 minutes) before and after the message scenarios:
    /// other work on the machine shows up here.
    var loadBefore: String?
    var loadAfter: String?
}

func loadAverage() -> String? {
    guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return nil }
    return text.split(separator: " ").prefix(3).joined(separator: " ")
}

/// Every client opened against one server, so that all get closed whatever happens.
final class ClientRegistry: @unchecked Sendable {
    private let lock = NSLock()
    private var clients: [ClientRef] = []

    func add(_ client: ClientRef) {
        lock.lock(); clients.append(client); lock.unlock()
    }

    private func takeAll() -> [ClientRef] {
        lock.lock(); defer { lock.unlock() }
        let all = clients
        clients = []
        return all
    }

    func closeAll() async {
        let all = takeAll()
        var futures: [EventLoopFuture<Void>] = []
        futures.reserveCapacity(all.count)
        for client in all {
            futures.append(client.onLoop { $0.quit() })
        }
        for future in futures { _ = try? await future.get() }
        for client in all { _ = try? await client.channel.closeFuture.get() }
    }
}

func log(_ text: String) {
    let line = "[\(timestampForLog())] \(text)\n"
    FileHandle.standardError.write(Data(line.utf8))
}

private let processStart = monotonicNanos()
private func timestampForLog() -> String {
    let start = processStart
    let now = monotonicNanos()
    let seconds = now > start ? Double(now - start) / 1e9 : 0
    return String(format: "%7.1fs", seconds)
}

/// Runs the three phases against one server.
struct Runner: Sendable {
    let settings: Settings
    let target: Target
    let group: MultiThreadedEventLoopGroup
    let tally = ConnectionTally()
    let registry = ClientRegistry()

    private var factory: ClientFactory {
        // The host was checked to be a loopback IP literal when the options were validated.
        let address = try! SocketAddress(ipAddress: target.host, port: target.port)
        return ClientFactory(group: group, address: address, password: target.password, tally: tally,
                             registrationTimeout: .milliseconds(Int64(settings.registrationTimeout * 1000)),
                             quickAck: target.quickAck)
    }

    func run() async -> ServerResult {
        var result = ServerResult(label: target.label, pid: target.pid, quickAck: target.quickAck,
                                  idleRequested: settings.idle,
                                  idleRegistered: 0, lostConnections: 0, errors: [])
        do {
            try await runPhases(into: &result)
        } catch {
            result.errors.append("\(error)")
            log("\(target.label): \(error)")
        }
        if let pid = target.pid, target.isAlive() { result.rssEndKiB = residentKiB(pid: pid) }
        let snapshot = tally.snapshot
        result.lostConnections = snapshot.lost
        if !snapshot.errors.isEmpty {
            result.errors.append(contentsOf: snapshot.errors.prefix(10).map { "client: \($0)" })
        }
        if snapshot.stray > 0 {
            result.errors.append("\(snapshot.stray) measured messages arrived outside their round (late or after a timeout)")
        }
        log("\(target.label): closing client connections")
        await registry.closeAll()
        return result
    }

    private func runPhases(into result: inout ServerResult) async throws {
        let label = target.label
        // Phase 1: idle connections and memory.
        try await Task.sleep(nanoseconds: 1_000_000_000)
        if let pid = target.pid { result.rssBeforeKiB = residentKiB(pid: pid) }
        log("\(label): connecting \(settings.idle) idle clients (RSS before: \(format(kib: result.rssBeforeKiB)))")
        let idleStart = monotonicNanos()
        let idle = try await connectMany(count: settings.idle, nickPrefix: "i", phase: "idle clients")
        result.idleRegistered = idle.count
        result.idleSeconds = Double(monotonicNanos() - idleStart) / 1e9
        await waitQuiet()
        try await Task.sleep(nanoseconds: 1_000_000_000)
        if let pid = target.pid {
            result.rssAfterIdleKiB = residentKiB(pid: pid)
            if let before = result.rssBeforeKiB, let after = result.rssAfterIdleKiB, idle.count > 0 {
                result.kibPerIdleConnection = Double(after - before) / Double(idle.count)
            }
        }
        log("\(label): \(idle.count) idle clients registered in \(String(format: "%.1f", result.idleSeconds ?? 0)) s; RSS after: \(format(kib: result.rssAfterIdleKiB))")
        try checkAlive()

        result.loadBefore = loadAverage()
        defer { result.loadAfter = loadAverage() }
        // Phase 2: fan-out to the members of one channel.
        if settings.members >= 2 && settings.fanoutMessages > 0 {
            result.fanout = try await fanout()
            try checkAlive()
        }

        // Phase 3: two-member channels.
        if settings.pairs >= 1 && settings.pairMessages > 0 {
            result.pairs = try await pairs()
            try checkAlive()
        }
    }

    private func checkAlive() throws {
        if !target.isAlive() { throw BenchFailure("\(target.label) is no longer running") }
    }

    // MARK: Scenarios

    private func fanout() async throws -> ScenarioResult {
        let label = target.label
        let members = settings.members
        let channel = "#bench-fanout"
        log("\(label): fan-out: connecting \(members) members and joining \(channel)")
        let clients = try await connectMany(count: members, nickPrefix: "f", phase: "fan-out members")
        try await joinAll(clients.map { ($0, channel) }, concurrency: 8)
        await waitQuiet()
        let senders = max(1, min(settings.fanoutSenders, members))
        func setup(totalMessages: Int) -> RoundSetup {
            var plans: [Int: SendPlan] = [:]
            var observing: [Int: [Int: ClientRef]] = [:]
            for sender in 0..<senders {
                let share = totalMessages / senders + (sender < totalMessages % senders ? 1 : 0)
                guard share > 0 else { continue }
                plans[sender] = SendPlan(senderID: sender, target: channel, total: share,
                                         window: settings.fanoutWindow, textSize: settings.textSize)
                observing[(sender + 1) % members, default: [:]][sender] = clients[sender]
            }
            let messages = plans.values.reduce(0) { $0 + $1.total }
            return RoundSetup(clients: clients, plans: plans, observing: observing,
                              expected: messages * (members - 1))
        }
        let description = "\(members) members in one channel, \(senders) senders, \(settings.fanoutMessages) messages per round, window \(settings.fanoutWindow) per sender"
        return try await measure(name: "fan-out", description: description) { warm in
            setup(totalMessages: warm ? max(senders, settings.fanoutMessages / 10) : settings.fanoutMessages)
        }
    }

    private func pairs() async throws -> ScenarioResult {
        let label = target.label
        let count = settings.pairs
        log("\(label): pairs: connecting \(2 * count) clients and joining \(count) two-member channels")
        let clients = try await connectMany(count: 2 * count, nickPrefix: "p", phase: "pair members")
        var joins: [(ClientRef, String)] = []
        for index in clients.indices { joins.append((clients[index], "#bench-pair-\(index / 2)")) }
        try await joinAll(joins, concurrency: 32)
        await waitQuiet()
        func setup(messagesEachWay: Int) -> RoundSetup {
            var plans: [Int: SendPlan] = [:]
            var observing: [Int: [Int: ClientRef]] = [:]
            for index in clients.indices {
                plans[index] = SendPlan(senderID: index, target: "#bench-pair-\(index / 2)", total: messagesEachWay,
                                        window: settings.pairWindow, textSize: settings.textSize)
                observing[index ^ 1] = [index: clients[index]]
            }
            return RoundSetup(clients: clients, plans: plans, observing: observing,
                              expected: clients.count * messagesEachWay)
        }
        let description = "\(count) channels of 2 members, \(settings.pairMessages) messages each way per round, window \(settings.pairWindow) per sender"
        return try await measure(name: "pairs", description: description) { warm in
            setup(messagesEachWay: warm ? max(1, settings.pairMessages / 10) : settings.pairMessages)
        }
    }

    struct RoundSetup {
        var clients: [ClientRef]
        /// Keyed by index in `clients`.
        var plans: [Int: SendPlan]
        /// Keyed by index in `clients`: the senders (by sender id) whose messages that client acknowledges.
        var observing: [Int: [Int: ClientRef]]
        var expected: Int
    }

    private func measure(name: String, description: String,
                         setup: (_ warmup: Bool) -> RoundSetup) async throws -> ScenarioResult {
        let label = target.label
        if settings.warmup {
            let round = try await runRound(setup(true))
            log("\(label): \(name) warm-up: \(round.delivered)/\(round.expected) deliveries, \(Int(round.deliveriesPerSecond))/s")
            await waitQuiet()
        }
        var rounds: [RoundResult] = []
        for index in 1...max(1, settings.rounds) {
            let round = try await runRound(setup(false))
            rounds.append(round)
            log("\(label): \(name) round \(index): \(round.delivered)/\(round.expected) deliveries in \(String(format: "%.3f", round.seconds)) s = \(Int(round.deliveriesPerSecond))/s, p50 \(String(format: "%.2f", round.p50Millis)) ms, p99 \(String(format: "%.2f", round.p99Millis)) ms; CPU server \(round.serverCPUPercent.map { String(format: "%.0f%%", $0) } ?? "n/a"), bench \(round.clientCPUPercent.map { String(format: "%.0f%%", $0) } ?? "n/a")")
            await waitQuiet()
            try checkAlive()
            if !round.complete { break }
        }
        return ScenarioResult(name: name, description: description, rounds: rounds)
    }

    private func runRound(_ setup: RoundSetup) async throws -> RoundResult {
        let sink = DeliveryTally(expectedDeliveries: setup.expected)
        var prepared: [EventLoopFuture<Void>] = []
        for (index, client) in setup.clients.enumerated() {
            let observing = setup.observing[index] ?? [:]
            let plan = setup.plans[index]
            prepared.append(client.onLoop { $0.prepare(sink: sink, observing: observing, plan: plan) })
        }
        for future in prepared { try await future.get() }

        let selfPid = getpid()
        let serverCPUStart = target.pid.flatMap { cpuSeconds(pid: $0) }
        let clientCPUStart = cpuSeconds(pid: selfPid)
        let wallStart = monotonicNanos()
        for (index, _) in setup.plans {
            let client = setup.clients[index]
            client.eventLoop.execute { client.handler.value.startSending() }
        }
        let deadline = monotonicNanos() + UInt64(settings.phaseTimeout * 1e9)
        var complete = false
        var lastProgress = (sent: -1, delivered: -1)
        var lastChange = monotonicNanos()
        while true {
            let progress = sink.progress
            if progress.delivered >= setup.expected { complete = true; break }
            let now = monotonicNanos()
            if progress != lastProgress { lastProgress = progress; lastChange = now }
            if now > deadline {
                log("\(target.label): round timed out after \(Int(settings.phaseTimeout)) s (\(progress.delivered)/\(setup.expected) delivered)")
                break
            }
            if now - lastChange > 30_000_000_000 {
                log("\(target.label): no progress for 30 s (\(progress.delivered)/\(setup.expected) delivered, \(progress.sent) sent); giving up on this round")
                break
            }
            if !target.isAlive() { break }
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        let wall = Double(monotonicNanos() - wallStart) / 1e9
        var serverCPU: Double? = nil
        if let start = serverCPUStart, let end = target.pid.flatMap({ cpuSeconds(pid: $0) }), wall > 0 {
            serverCPU = (end - start) / wall * 100
        }
        var clientCPU: Double? = nil
        if let start = clientCPUStart, let end = cpuSeconds(pid: selfPid), wall > 0 {
            clientCPU = (end - start) / wall * 100
        }
        // Stop senders and detach the sink.
        var stopped: [EventLoopFuture<Void>] = []
        for client in setup.clients {
            stopped.append(client.onLoop { $0.prepare(sink: nil, observing: [:], plan: nil) })
        }
        for future in stopped { try await future.get() }
        let figures = sink.finish()
        let latencies = figures.latenciesMicros.sorted()
        let seconds = figures.lastDelivery > figures.firstSend && figures.firstSend != .max
            ? Double(figures.lastDelivery - figures.firstSend) / 1e9 : 0
        func percentile(_ p: Double) -> Double {
            guard !latencies.isEmpty else { return 0 }
            let rank = Int((p * Double(latencies.count)).rounded(.up)) - 1
            return Double(latencies[min(max(rank, 0), latencies.count - 1)]) / 1000
        }
        return RoundResult(expected: setup.expected, sent: figures.sent, delivered: figures.delivered,
                           seconds: seconds,
                           deliveriesPerSecond: seconds > 0 ? Double(figures.delivered) / seconds : 0,
                           p50Millis: percentile(0.50), p99Millis: percentile(0.99),
                           maxMillis: Double(latencies.last ?? 0) / 1000, complete: complete,
                           serverCPUPercent: serverCPU, clientCPUPercent: clientCPU)
    }

    // MARK: Connections

    /// Opens `count` clients, at most `connectConcurrency` registering at once,
    /// and waits for each one's 001.
    private func connectMany(count: Int, nickPrefix: String, phase: String) async throws -> [ClientRef] {
        guard count > 0 else { return [] }
        let factory = self.factory
        let registry = self.registry
        let width = String(count - 1).count
        let deadline = monotonicNanos() + UInt64(settings.phaseTimeout * 1e9)
        var clients = [ClientRef?](repeating: nil, count: count)
        var done = 0
        var nextReport = monotonicNanos() + 5_000_000_000
        try await withThrowingTaskGroup(of: (Int, ClientRef).self) { group in
            var next = 0
            func nick(_ index: Int) -> String {
                let digits = String(index)
                return nickPrefix + String(repeating: "0", count: width - digits.count) + digits
            }
            /// Starts connecting and registering the next client.
            func startNext() {
                let index = next
                let name = nick(index)
                group.addTask {
                    let client = try await factory.connect(nick: name)
                    registry.add(client)
                    try await client.registered.get()
                    return (index, client)
                }
                next += 1
            }
            while next < min(settings.connectConcurrency, count) { startNext() }
            while let (index, client) = try await group.next() {
                clients[index] = client
                done += 1
                let now = monotonicNanos()
                if now > nextReport {
                    log("\(target.label): \(phase): \(done)/\(count) registered")
                    nextReport = now + 5_000_000_000
                }
                if now > deadline {
                    throw BenchFailure("\(phase): only \(done)/\(count) registered within \(Int(settings.phaseTimeout)) s")
                }
                if !target.isAlive() { throw BenchFailure("\(target.label) exited while connecting \(phase)") }
                if next < count { startNext() }
            }
        }
        return clients.compactMap { $0 }
    }

    private func joinAll(_ joins: [(ClientRef, String)], concurrency: Int) async throws {
        let timeout = TimeAmount.milliseconds(Int64(settings.registrationTimeout * 1000))
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = 0
            while next < min(concurrency, joins.count) {
                let (client, channel) = joins[next]
                group.addTask { try await client.join(channel, timeout: timeout) }
                next += 1
            }
            while try await group.next() != nil {
                if next < joins.count {
                    let (client, channel) = joins[next]
                    group.addTask { try await client.join(channel, timeout: timeout) }
                    next += 1
                }
            }
        }
    }

    /// Waits until the clients stop receiving lines (0.5 s without any), at most 30 s.
    private func waitQuiet() async {
        var last = tally.snapshot.lines
        var quietSince = monotonicNanos()
        let deadline = monotonicNanos() + 30_000_000_000
        while monotonicNanos() < deadline {
            try? await Task.sleep(nanoseconds: 100_000_000)
            let lines = tally.snapshot.lines
            let now = monotonicNanos()
            if lines != last {
                last = lines
                quietSince = now
            } else if now - quietSince >= 500_000_000 {
                return
            }
        }
    }
}

extension ClientRef {
    /// Joins `name` and waits for the server to confirm it.
    func join(_ name: String, timeout: TimeAmount) async throws {
        let handler = self.handler
        try await channel.eventLoop.flatSubmit { handler.value.join(name, timeout: timeout) }.get()
    }
}

func format(kib: Int?) -> String {
    guard let kib else { return "n/a" }
    return String(format: "%.1f MiB", Double(kib) / 1024)
}
#endif
