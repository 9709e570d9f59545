import Foundation
import IRCProtocol
import Testing

@Suite("Registration")
struct RegistrationTests {
    @Test("SASL PLAIN over TLS registers and the welcome burst is complete")
    func saslSuccess() async throws {
        try await withServer { server in
            let client = try await server.connect()
            try await client.send("CAP LS 302")
            let ls = try await client.expect("CAP")
            #expect(ls.params[0] == "*")
            #expect(ls.params.last!.split(separator: " ").contains("sasl=PLAIN"))
            try await client.send("CAP REQ :sasl")
            try await client.expect("CAP")
            try await client.send("AUTHENTICATE PLAIN")
            let challenge = try await client.expect("AUTHENTICATE")
            #expect(challenge.params == ["+"])
            try await client.send("AUTHENTICATE " + Data("\0alice\0\(TestServer.password)".utf8).base64EncodedString())
            // The nick is not known yet: irssi runs SASL first, so replies address "*".
            let loggedIn = try await client.expect("900")
            #expect(loggedIn.params[0] == "*")
            #expect(loggedIn.params[2] == "alice")
            let success = try await client.expect("903")
            #expect(success.params[0] == "*")
            try await client.send("NICK alice")
            try await client.send("USER alice 0 * :Alice Example")
            try await client.send("CAP END")
            let burst = try await client.collect(until: "376")
            let commands = burst.map(\.command)
            for numeric in ["001", "002", "003", "004", "005", "251", "255", "375", "372", "376"] {
                #expect(commands.contains(numeric), "missing \(numeric)")
            }
            let isupport = burst.filter { $0.command == "005" }.flatMap { $0.params.dropFirst().dropLast() }
            for token in ["CASEMAPPING=ascii", "CHANTYPES=#", "PREFIX=(ov)@+", "CHANMODES=b,k,l,imnst", "NICKLEN=30",
                          "CHANNELLEN=64", "TOPICLEN=390", "NETWORK=Switchboard", "UTF8ONLY", "BOT=B", "MONITOR=100", "WHOX"] {
                #expect(isupport.contains(token), "ISUPPORT lacks \(token)")
            }
            #expect(burst.first { $0.command == "001" }?.params[0] == "alice")
        }
    }

    /// A new connection with SASL PLAIN negotiated, waiting for the credentials.
    private func saslStarted(_ server: TestServer) async throws -> TestIRCClient {
        let client = try await server.connect()
        try await client.send("CAP LS 302")
        try await client.send("CAP REQ :sasl")
        try await client.expect("CAP") { $0.params.count > 1 && $0.params[1] == "ACK" }
        try await client.send("AUTHENTICATE PLAIN")
        try await client.expect("AUTHENTICATE")
        return client
    }

    @Test("SASL failure is 904 and reveals nothing about the account")
    func saslFailure() async throws {
        try await withServer { server in
            var answers: [String] = []
            for (login, password) in [("alice", "wrong"), ("nobody", "wrong")] {
                let client = try await saslStarted(server)
                try await client.send("AUTHENTICATE " + Data("\0\(login)\0\(password)".utf8).base64EncodedString())
                let fail = try await client.expect("904")
                answers.append(fail.params.last!)
                // Without an account the registration is refused and the connection closed.
                try await client.send("NICK x\(answers.count)")
                try await client.send("USER x 0 * :x")
                try await client.send("CAP END")
                let refused = try await client.expect("464")
                #expect(refused.params.last!.contains("operator account"))
                try await client.expectClosed()
            }
            #expect(answers[0] == answers[1])
        }
    }

    @Test("a failed SASL login with CAP END, NICK and USER sent right after it is refused at once")
    func saslFailurePipelined() async throws {
        try await withServer { server in
            let client = try await saslStarted(server)
            // Everything at once, as a bot would: the registration arrives while the password is checked.
            try await client.send("AUTHENTICATE " + Data("\0alice\0wrong".utf8).base64EncodedString()
                                  + "\r\nCAP END\r\nNICK x\r\nUSER x 0 * :x")
            try await client.expect("904")
            let refused = try await client.expect("464", timeout: .seconds(5))   // the registration timeout is 30 s
            #expect(refused.params.last!.contains("operator account"))
            try await client.expectClosed(timeout: .seconds(5))
        }
    }

    @Test("lines sent in one write with a PASS login run after it, in order")
    func pipelinedAfterPassLogin() async throws {
        try await withServer { server in
            let client = try await server.connect()
            // A bot's whole start in one write: the JOIN must not run before the password is checked.
            try await client.send("PASS alice:\(TestServer.password)\r\nNICK alice\r\nUSER alice 0 * :Alice\r\nJOIN #pipe\r\nPING :after")
            let lines = try await client.collect(until: "PONG")
            let commands = lines.map(\.command)
            #expect(!commands.contains("451"), "\(lines)")
            let welcome = try #require(commands.firstIndex(of: "001"), "\(lines)")
            let join = try #require(commands.firstIndex(of: "JOIN"), "\(lines)")
            let names = try #require(commands.firstIndex(of: "366"), "\(lines)")
            #expect(welcome < join && join < names)
        }
    }

    @Test("a SASL failure, its retry and the registration sent in one write are answered in order")
    func saslPipelined() async throws {
        try await withServer { server in
            let client = try await saslStarted(server)
            let wrong = Data("\0alice\0wrong".utf8).base64EncodedString()
            let right = Data("\0alice\0\(TestServer.password)".utf8).base64EncodedString()
            try await client.send(["AUTHENTICATE \(wrong)", "AUTHENTICATE PLAIN", "AUTHENTICATE \(right)",
                                   "NICK alice", "USER alice 0 * :Alice", "CAP END", "JOIN #pipe"].joined(separator: "\r\n"))
            let lines = try await client.collect(until: "366")
            let commands = lines.map(\.command)
            #expect(commands.filter { ["904", "AUTHENTICATE", "903", "001", "JOIN"].contains($0) }
                    == ["904", "AUTHENTICATE", "903", "001", "JOIN"], "\(lines)")
            #expect(!commands.contains("451") && !commands.contains("908"), "\(lines)")
        }
    }

    @Test("Registration without credentials is refused with 464 and closed")
    func noCredentials() async throws {
        try await withServer { server in
            let client = try await server.connect()
            try await client.send("NICK mallory")
            try await client.send("USER mallory 0 * :Mallory")
            try await client.expect("464")
            try await client.expect("ERROR")
            try await client.expectClosed()
        }
    }

    @Test("PASS login:password works for clients without SASL, and a wrong one is refused")
    func passLogin() async throws {
        try await withServer { server in
            let good = try await server.connect()
            try await good.register(nick: "bob", login: "bob", password: TestServer.password, sasl: false)
            let bad = try await server.connect()
            try await bad.send("PASS bob:nope")
            try await bad.send("NICK bob2")
            try await bad.send("USER bob 0 * :Bob")
            let refused = try await bad.expect("464")
            #expect(refused.params.last == "Invalid login or password")
            try await bad.expectClosed()
        }
    }

    @Test("a client that leaves while its password is checked leaves no registered ghost behind")
    func leavesDuringPasswordCheck() async throws {
        try await withServer { server in
            // A slow hash, so the check is still running when the connection is gone.
            _ = try server.server.database.operators.add(
                login: "slow", displayName: "Slow", chatName: nil, languages: ["en"],
                isBot: false, isAdmin: false, password: TestServer.password, bcryptCost: 12)
            for _ in 0..<2 {
                let leaving = try await server.connect(tls: false)
                try await leaving.send("PASS slow:\(TestServer.password)\r\nNICK ghost\r\nUSER g 0 * :Ghost")
                await leaving.close()
            }
            try await Task.sleep(for: .seconds(2))
            let alice = try await server.connect()
            let welcome = try await alice.register(nick: "ghost", login: "alice", password: TestServer.password)
            #expect(welcome.contains { $0.command == "001" && $0.params.first == "ghost" })
            try await alice.send("WHOIS ghost")
            let whois = try await alice.expect("311")
            #expect(whois.params[1] == "ghost" && whois.params[2] != "g")
        }
    }

    @Test("plaintext from loopback accepts SASL and PASS")
    func plaintextLoopback() async throws {
        try await withServer { server in
            let client = try await server.connect(tls: false)
            try await client.register(nick: "carol", login: "carol", password: TestServer.password)
            let other = try await server.connect(tls: false)
            try await other.register(nick: "carol2", login: "carol", password: TestServer.password, sasl: false)
        }
    }

    @Test("irssi's empty JOIN before registration gets 451, and CAP is answered")
    func irssiOpening() async throws {
        try await withServer { server in
            let client = try await server.connect()
            try await client.send("CAP LS 302")
            try await client.send("JOIN :")
            try await client.expect("CAP")
            try await client.expect("451")
        }
    }

    @Test("a nick in use gets 433 and the client can pick another")
    func nickInUse() async throws {
        try await withServer { server in
            _ = try await server.client("alice")
            let second = try await server.connect()
            try await second.send("CAP LS 302")
            try await second.send("PASS alice:\(TestServer.password)")
            try await second.send("NICK alice")
            try await second.expect("433")
            try await second.send("NICK alice_")
            try await second.send("USER alice 0 * :Alice")
            try await second.send("CAP END")
            let welcome = try await second.expect("001")
            #expect(welcome.params[0] == "alice_")
        }
    }

    @Test("registration times out")
    func registrationTimeout() async throws {
        try await withServer(configure: { $0.registrationTimeout = 1 }) { server in
            // Nothing is sent: on a loaded machine the time may be up before a line could go out.
            // Plaintext: over TLS the time can also run out during the handshake, before
            // there is a session to send ERROR over, and the server just closes.
            let client = try await server.connect(tls: false)
            let error = try await client.expect("ERROR", timeout: .seconds(10))
            #expect(error.params[0].contains("Registration timed out"))
            try await client.expectClosed()
        }
    }

    @Test("connections per IP are limited unless exempt", arguments: RobustnessTests.listeners)
    func connectionsPerIP(tls: Bool) async throws {
        try await withServer(configure: { $0.exempt = []; $0.connectionsPerIP = 2 }) { server in
            let first = try await server.connect(tls: tls)
            let second = try await server.connect(tls: !tls)
            let third = try await server.connect(tls: tls)
            let error = try await third.expect("ERROR")
            #expect(error.params[0].contains("too many connections"))
            try await third.expectClosed()
            #expect(!first.isClosed)
            #expect(!second.isClosed)
        }
    }

    /// A plaintext connection (from loopback) that tries PASS and gets refused.
    private func failedPass(_ server: TestServer, _ credentials: String, nick: String) async throws -> String {
        let client = try await server.connect(tls: false)
        try await client.send("PASS \(credentials)\r\nNICK \(nick)\r\nUSER u 0 * :U")
        let refused = try await client.expect("464", timeout: .seconds(15)).params.last ?? ""
        try await client.expectClosed(timeout: .seconds(15))
        return refused
    }

    @Test("an address that failed too many logins is refused, even with the right password")
    func loginThrottle() async throws {
        try await withServer(configure: { $0.exempt = []; $0.loginFailuresPerIP = 2; $0.loginFailureWindow = 600 }) { server in
            #expect(try await failedPass(server, "alice:wrong", nick: "w1") == "Invalid login or password")
            // A second failure, by SASL.
            let guessing = try await server.connect(tls: false)
            try await guessing.send("CAP REQ :sasl\r\nAUTHENTICATE PLAIN")
            try await guessing.expect("AUTHENTICATE", timeout: .seconds(15))
            try await guessing.send("AUTHENTICATE " + Data("\0alice\0guess".utf8).base64EncodedString())
            #expect(try await guessing.expect("904", timeout: .seconds(15)).params.last == "SASL authentication failed")

            // The address is throttled now: the right password is refused without a check, over SASL ...
            try await guessing.send("AUTHENTICATE PLAIN")
            try await guessing.expect("AUTHENTICATE", timeout: .seconds(15))
            try await guessing.send("AUTHENTICATE " + Data("\0alice\0\(TestServer.password)".utf8).base64EncodedString())
            let throttled = try await guessing.expect("904", timeout: .seconds(15)).params.last!
            #expect(throttled.hasPrefix("Too many failed logins from your address; try again in "))
            // ... and with PASS.
            #expect(try await failedPass(server, "alice:\(TestServer.password)", nick: "r1").hasPrefix("Too many failed logins"))
        }
    }

    @Test("once the oldest failure is older than the window, logins are checked again")
    func loginThrottleWindow() async throws {
        try await withServer(configure: { $0.exempt = []; $0.loginFailuresPerIP = 1; $0.loginFailureWindow = 1 }) { server in
            #expect(try await failedPass(server, "alice:wrong", nick: "w1") == "Invalid login or password")
            try await Task.sleep(for: .seconds(1.2))
            let alice = try await server.connect(tls: false)
            let welcome = try await alice.register(nick: "alice", login: "alice", password: TestServer.password)
            #expect(welcome.contains { $0.command == "001" })
        }
    }

    @Test("failed logins from exempt addresses are not throttled")
    func loginThrottleExempt() async throws {
        try await withServer(configure: { $0.loginFailuresPerIP = 1 }) { server in
            for attempt in 0..<3 {
                let wrong = try await server.connect()
                try await wrong.send("PASS alice:wrong\r\nNICK w\(attempt)\r\nUSER w 0 * :W")
                #expect(try await wrong.expect("464").params.last == "Invalid login or password")
            }
            let alice = try await server.connect()
            let welcome = try await alice.register(nick: "alice", login: "alice", password: TestServer.password)
            #expect(welcome.contains { $0.command == "001" })
        }
    }

    @Test("the server pings an idle client and drops it when no PONG comes")
    func pingTimeout() async throws {
        try await withServer(configure: { $0.pingInterval = 1; $0.pingTimeout = 1 }) { server in
            let client = try await server.client("alice")
            let ping = try await client.expect("PING", timeout: .seconds(5))
            #expect(ping.params.first == "switchboard.local")
            let error = try await client.expect("ERROR", timeout: .seconds(5))
            #expect(error.params[0].contains("Ping timeout"))
            try await client.expectClosed()
        }
    }
}
