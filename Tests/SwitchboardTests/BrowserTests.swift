import ChildProcesses
import Foundation
import IRCProtocol
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The chat widget in a real browser: `Tests/Browser/widget_test.py` drives
/// headless Chromium through Selenium as the visitor, on the demo page of a
/// server started in-process, while this test plays the operator over IRC.
///
/// The visitor opens `/`, clicks the chat button, sends "Hello from the
/// browser"; operator alice, joined to `#website`, is joined by the server to
/// the conversation channel `#website-<n>`, sees the message there and answers
/// "Hi! How can I help?"; the script waits for the answer in the widget with
/// the operator's name, saves a screenshot to `.build/test-artifacts/widget.png`,
/// checks the page logged no console errors, and exits 0.
///
/// Needs `chromium` and `chromium-driver` (`apt-get install chromium
/// chromium-driver`) and Selenium (`python3 -m pip install selenium`), all
/// installed by `.ci/run`: without them the test is skipped, except on CI
/// (`CI=true`) where it fails.
@Suite("The chat widget in a real browser")
struct BrowserTests {
    static let visitorMessage = "Hello from the browser"
    static let operatorReply = "Hi! How can I help?"

    @Test("a visitor chats from the demo page in headless Chromium; the operator answers from IRC",
          .enabled(if: BrowserTools.missing == nil || TestTools.onCI,
                   "needs chromium, chromium-driver (apt-get install chromium chromium-driver) and selenium (python3 -m pip install selenium); required when CI=true"),
          .timeLimit(.minutes(2)))
    func visitorAndOperatorTalk() async throws {
        if let missing = BrowserTools.missing {
            Issue.record("CI=true but \(missing): run .ci/run, or apt-get install chromium chromium-driver and python3 -m pip install selenium")
            return
        }
        let root = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let script = root.appendingPathComponent("Tests/Browser/widget_test.py")
        let artifacts = root.appendingPathComponent(".build/test-artifacts")
        try FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
        let screenshot = artifacts.appendingPathComponent("widget.png")
        let logURL = artifacts.appendingPathComponent("widget_test.log")
        try? FileManager.default.removeItem(at: screenshot)
        try? FileManager.default.removeItem(at: logURL)
        try? FileManager.default.removeItem(at: artifacts.appendingPathComponent("widget-failed.png"))
        let deadline = ContinuousClock.now + .seconds(60)

        try await withServer { server in
            let alice = try await server.client("alice")
            try await alice.send("JOIN #website")
            try await alice.expect("366")

            let browser = try ChildProcess.spawn(
                "python3", [script.path,
                            "--base", "http://127.0.0.1:\(server.webPort)",
                            "--screenshot", screenshot.path,
                            "--message", Self.visitorMessage, "--reply", Self.operatorReply,
                            "--timeout", "50"],
                directory: root.path, output: .file(logURL.path), errorsToOutput: true)
            let run = BrowserRun(process: browser, log: logURL)
            var failure: (any Error)?
            do {
                // The server joins alice to the new conversation's channel, then relays the visitor's message.
                let join = try await run.expect(alice, "alice to be joined to #website-<n>", until: deadline) {
                    $0.command == "JOIN" && $0.source?.hasPrefix("alice!") == true && $0.params.first?.hasPrefix("#website-") == true
                }
                let channel = join.params[0]
                // The page's address and title, too long for the API, were shortened to fit.
                let id = try #require(Int64(channel.dropFirst("#website-".count)))
                let page = try #require(try server.server.database.conversations.pages(id: id).first)
                #expect(page.url.count == 2048 && page.url.contains("?ref=xxx"), "\(page.url.count)")
                #expect(page.title?.count == 300 && page.title?.hasPrefix("Shop t") == true, "\(String(describing: page.title))")
                try await run.expect(alice, "the visitor's message in \(channel)", until: deadline) {
                    $0.command == "PRIVMSG" && $0.params == [channel, Self.visitorMessage]
                }
                try await alice.send("PRIVMSG \(channel) :\(Self.operatorReply)")
                let status = try await run.exitStatus(until: deadline)
                #expect(status == "exit status 0", "widget_test.py ended with \(status):\n\(run.output)")
                #expect(FileManager.default.fileExists(atPath: screenshot.path), "no screenshot at \(screenshot.path):\n\(run.output)")
            } catch {
                failure = error
            }
            await run.stop()
            if let failure { Issue.record("\(failure)\nwidget_test.py said:\n\(run.output)") }
        }
    }
}

/// The Python script running the browser, watched while the test talks over IRC.
private struct BrowserRun {
    let process: ChildProcess
    let log: URL

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    var output: String {
        (try? String(contentsOf: log, encoding: .utf8)) ?? "(no output)"
    }

    /// Reads alice's lines until one matches; fails at the deadline or when the script ends first.
    @discardableResult
    func expect(_ client: TestIRCClient, _ what: String, until deadline: ContinuousClock.Instant,
                where predicate: (IRCMessage) -> Bool) async throws -> IRCMessage {
        while true {
            if !process.isRunning {
                throw Failure(description: "widget_test.py ended (\(process.statusDescription)) before \(what)")
            }
            let slice = min(Duration.seconds(1), deadline - ContinuousClock.now)
            if slice <= .zero { throw Failure(description: "timed out waiting for \(what)") }
            do {
                return try await client.expect(what, timeout: slice, where: predicate)
            } catch is TestTimeout {
                continue
            }
        }
    }

    func exitStatus(until deadline: ContinuousClock.Instant) async throws -> String {
        guard await process.exit(within: deadline - ContinuousClock.now) else {
            throw Failure(description: "widget_test.py did not finish in time")
        }
        return process.statusDescription
    }

    /// SIGTERM (the script then quits the browser), SIGKILL if it lingers.
    func stop() async {
        await process.stop(grace: .seconds(5))
    }
}

private enum BrowserTools {
    /// What is missing to run the browser test, or nil when everything is there.
    static let missing: String? = {
        if TestTools.path(of: "chromium") == nil && TestTools.path(of: "chromium-browser") == nil {
            return "chromium is not installed"
        }
        if TestTools.path(of: "chromedriver") == nil { return "chromedriver (chromium-driver) is not installed" }
        if !pythonHasSelenium() { return "python3 cannot import selenium" }
        return nil
    }()

    private static func pythonHasSelenium() -> Bool {
        guard let python = try? ChildProcess.spawn("python3", ["-c", "import selenium"]) else { return false }
        return python.wait(timeout: 60) && python.exitCode == 0
    }
}
