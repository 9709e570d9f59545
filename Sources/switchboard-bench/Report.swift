#if os(Linux)
import Foundation

/// Text tables for one run: one per server, then the comparison and verdicts.
enum Report {
    static func render(settings: Settings, results: [ServerResult], machine: String) -> String {
        var out = ""
        out += "\n== switchboard-bench ==\n"
        out += machine + "\n"
        out += "idle clients: \(settings.idle); fan-out: \(settings.members) members, \(settings.fanoutSenders) senders, \(settings.fanoutMessages) messages/round, window \(settings.fanoutWindow); "
        out += "pairs: \(settings.pairs) channels, \(settings.pairMessages) messages each way/round, window \(settings.pairWindow); "
        out += "text \(settings.textSize) bytes; rounds \(settings.rounds)\(settings.warmup ? " + warm-up" : ""); client event loops \(settings.threads)\n"
        for result in results {
            out += "\n" + serverTable(result)
        }
        // Several runs of a server (--repeat): compared on all their rounds together.
        let switchboardRuns = results.filter { $0.label == "Switchboard" }
        let inspircdRuns = results.filter { $0.label == "InspIRCd" }
        if let switchboard = ServerResult.pooled(switchboardRuns), let inspircd = ServerResult.pooled(inspircdRuns) {
            out += "\n"
            if switchboardRuns.count > 1 || inspircdRuns.count > 1 {
                out += "(\(switchboardRuns.count) runs of Switchboard and \(inspircdRuns.count) of InspIRCd, in alternating order; "
                    + "medians over all their rounds, median memory)\n"
            }
            out += comparison(switchboard, inspircd)
        }
        return out
    }

    static func serverTable(_ result: ServerResult) -> String {
        var rows: [[String]] = []
        rows.append(["idle connections registered", "\(result.idleRegistered)/\(result.idleRequested)"
            + (result.idleSeconds.map { String(format: " in %.1f s", $0) } ?? "")])
        rows.append(["server RSS before / after idle", "\(format(kib: result.rssBeforeKiB)) / \(format(kib: result.rssAfterIdleKiB))"])
        rows.append(["KiB per idle connection", result.kibPerIdleConnection.map { String(format: "%.2f", $0) } ?? "n/a"])
        for scenario in [result.fanout, result.pairs].compactMap({ $0 }) {
            let m = scenario.median
            rows.append(["\(scenario.name) deliveries/s (median round)", String(format: "%.0f", m.deliveriesPerSecond)
                + (m.complete ? "" : " (INCOMPLETE: \(m.delivered)/\(m.expected))")])
            rows.append(["\(scenario.name) latency p50 / p99 / max", String(format: "%.2f / %.2f / %.2f ms", m.p50Millis, m.p99Millis, m.maxMillis)])
            rows.append(["\(scenario.name) deliveries per round", "\(m.delivered) in \(String(format: "%.3f", m.seconds)) s"])
            rows.append(["\(scenario.name) CPU server / bench", "\(m.serverCPUPercent.map { String(format: "%.0f%%", $0) } ?? "n/a") / \(m.clientCPUPercent.map { String(format: "%.0f%%", $0) } ?? "n/a") of one core"])
            let all = scenario.rounds.map { String(format: "%.0f", $0.deliveriesPerSecond) }.joined(separator: ", ")
            rows.append(["\(scenario.name) deliveries/s, every round", all])
        }
        rows.append(["server RSS at the end", format(kib: result.rssEndKiB)])
        if let quickAck = result.quickAck {
            rows.append(["clients re-arm TCP_QUICKACK", quickAck ? "yes" : "no"])
        }
        if let before = result.loadBefore, let after = result.loadAfter {
            rows.append(["load average before / after", "\(before) / \(after)"])
        }
        if result.lostConnections > 0 {
            rows.append(["connections lost", "\(result.lostConnections)"])
        }
        var out = "-- \(result.label)\(result.pid.map { " (pid \($0))" } ?? "") --\n"
        out += table(rows)
        for error in result.errors { out += "  ! \(error)\n" }
        return out
    }

    static func comparison(_ s: ServerResult, _ i: ServerResult) -> String {
        func ratio(_ a: Double?, _ b: Double?) -> String {
            guard let a, let b, b != 0 else { return "n/a" }
            return String(format: "%.2f", a / b)
        }
        func value(_ v: Double?, _ format: String) -> String {
            v.map { String(format: format, $0) } ?? "n/a"
        }
        var rows: [[String]] = [["metric", "Switchboard", "InspIRCd", "ratio S/I"]]
        let sf = s.fanout?.median, inf = i.fanout?.median, sp = s.pairs?.median, ip = i.pairs?.median
        let lines: [(String, Double?, Double?, String)] = [
            ("fan-out deliveries/s", sf?.deliveriesPerSecond, inf?.deliveriesPerSecond, "%.0f"),
            ("fan-out p50 latency (ms)", sf?.p50Millis, inf?.p50Millis, "%.2f"),
            ("fan-out p99 latency (ms)", sf?.p99Millis, inf?.p99Millis, "%.2f"),
            ("pairs deliveries/s", sp?.deliveriesPerSecond, ip?.deliveriesPerSecond, "%.0f"),
            ("pairs p50 latency (ms)", sp?.p50Millis, ip?.p50Millis, "%.2f"),
            ("pairs p99 latency (ms)", sp?.p99Millis, ip?.p99Millis, "%.2f"),
            ("KiB per idle connection", s.kibPerIdleConnection, i.kibPerIdleConnection, "%.2f"),
        ]
        for (name, a, b, f) in lines {
            rows.append([name, value(a, f), value(b, f), ratio(a, b)])
        }
        var out = "-- Switchboard / InspIRCd --\n" + table(rows, header: true)
        func verdict(_ name: String, _ ok: Bool?, _ detail: String) -> String {
            let word = ok.map { $0 ? "PASS" : "FAIL" } ?? "UNKNOWN"
            return "verdict: \(name): \(word) (\(detail))\n"
        }
        func atLeast(_ a: RoundResult?, _ b: RoundResult?) -> Bool? {
            guard let a, let b, a.complete, b.complete else { return nil }
            return a.deliveriesPerSecond >= b.deliveriesPerSecond
        }
        out += verdict("fan-out deliveries/s >= InspIRCd", atLeast(sf, inf),
                       "ratio \(ratio(sf?.deliveriesPerSecond, inf?.deliveriesPerSecond))")
        out += verdict("pairs deliveries/s >= InspIRCd", atLeast(sp, ip),
                       "ratio \(ratio(sp?.deliveriesPerSecond, ip?.deliveriesPerSecond))")
        var memoryOK: Bool? = nil
        if let a = s.kibPerIdleConnection, let b = i.kibPerIdleConnection,
           s.idleRegistered == s.idleRequested, i.idleRegistered == i.idleRequested {
            memoryOK = a <= b
        }
        out += verdict("memory per idle connection <= InspIRCd", memoryOK,
                       "ratio \(ratio(s.kibPerIdleConnection, i.kibPerIdleConnection))")
        return out
    }

    static func table(_ rows: [[String]], header: Bool = false) -> String {
        guard let columns = rows.map(\.count).max() else { return "" }
        var widths = [Int](repeating: 0, count: columns)
        for row in rows {
            for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) }
        }
        var out = ""
        for (rowIndex, row) in rows.enumerated() {
            var line = "  "
            for (index, cell) in row.enumerated() {
                let pad = String(repeating: " ", count: widths[index] - cell.count)
                line += index == 0 ? cell + pad : "  " + pad + cell
            }
            out += line + "\n"
            if header && rowIndex == 0 {
                out += "  " + widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ") + "\n"
            }
        }
        return out
    }

    /// A one-line description of this machine: cores, memory, kernel.
    static func machineDescription() -> String {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let memory = Double(ProcessInfo.processInfo.physicalMemory) / 1_073_741_824
        var cpu = "unknown CPU"
        if let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
           let line = info.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
           let colon = line.firstIndex(of: ":") {
            cpu = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var kernel = ""
        if let release = try? String(contentsOfFile: "/proc/sys/kernel/osrelease", encoding: .utf8) {
            kernel = ", Linux " + release.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return "machine: \(cores) cores (\(cpu)), \(String(format: "%.0f", memory)) GiB\(kernel)"
    }
}
#endif
