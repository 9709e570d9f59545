import Foundation
import IRCProtocol
import Testing

/// An operator with two devices: one that drops out of a conversation (a lost link,
/// a server restart) and comes back gets what it missed, not the whole conversation
/// again under what it already shows; a device that never had it gets all of it.
@Suite("Devices coming back to a conversation")
struct ReturningDeviceTests {
    /// The PRIVMSG texts `client` is replayed in `channel`: they follow the end of its NAMES
    /// at once, so after that, until it has been quiet for a moment.
    private func replayed(_ client: TestIRCClient, in channel: String) async throws -> [String] {
        try await client.expect("the NAMES of \(channel)", timeout: .seconds(15)) { $0.command == "366" && $0.params[1] == channel }
        var texts: [String] = []
        while let message = try await client.expectNothing(for: .milliseconds(700), where: {
            $0.command == "PRIVMSG" && $0.params.first == channel
        }) {
            texts.append(message.params[1])
        }
        return texts
    }

    /// Another connection of alice's that joins #website, once it is in `channel` too.
    private func device(_ nick: String, on server: TestServer, joining channel: String) async throws -> TestIRCClient {
        let client = try await server.client(nick, login: "alice", caps: ["server-time"])
        try await client.send("JOIN #website")
        try await client.expect("\(nick)'s JOIN of \(channel)") { $0.command == "JOIN" && $0.params.first == channel }
        return client
    }

    @Test("a phone that loses its link while the laptop stays gets what it missed when it reconnects")
    func reconnectWhileAnotherStays() async throws {
        try await withServer { server in
            let laptop = try await operatorInWebsite(server, "alice", caps: ["server-time"])
            let phone = try await operatorInWebsite(server, "alicephone", login: "alice", caps: ["server-time"])
            let visitor = try await assignedVisitor(to: laptop, on: server, name: "Anna")
            try await phone.expect("the phone's JOIN") { $0.command == "JOIN" && $0.params.first == visitor.channel }
            _ = try await visitor.say("seen by both")
            try await phone.expect("PRIVMSG") { $0.command == "PRIVMSG" && $0.params[1] == "seen by both" }
            await phone.close()
            try await Task.sleep(for: .milliseconds(300))
            _ = try await visitor.say("missed by the phone")
            try await laptop.expect("PRIVMSG") { $0.command == "PRIVMSG" && $0.params[1] == "missed by the phone" }

            let back = try await device("alicephone", on: server, joining: visitor.channel)
            #expect(try await replayed(back, in: visitor.channel) == ["missed by the phone"])

            // A device that was never in it gets it whole.
            let tablet = try await device("alicetab", on: server, joining: visitor.channel)
            #expect(try await replayed(tablet, in: visitor.channel) == ["seen by both", "missed by the phone"])
        }
    }

    @Test("three devices drop out one after the other and come back in the reverse order: each gets exactly what it missed")
    func reverseOrder() async throws {
        try await withServer { server in
            let laptop = try await operatorInWebsite(server, "alice", caps: ["server-time"])
            let visitor = try await assignedVisitor(to: laptop, on: server, name: "Anna")
            let phone = try await device("alicephone", on: server, joining: visitor.channel)
            let tablet = try await device("alicetab", on: server, joining: visitor.channel)
            _ = try await visitor.say("m1")
            for client in [laptop, phone, tablet] {
                try await client.expect("m1") { $0.command == "PRIVMSG" && $0.params[1] == "m1" }
            }
            await phone.close()
            try await Task.sleep(for: .milliseconds(300))
            _ = try await visitor.say("m2")
            try await tablet.expect("m2") { $0.command == "PRIVMSG" && $0.params[1] == "m2" }
            await tablet.close()
            try await Task.sleep(for: .milliseconds(300))
            _ = try await visitor.say("m3")
            try await laptop.expect("m3") { $0.command == "PRIVMSG" && $0.params[1] == "m3" }

            let tabletBack = try await device("alicetab", on: server, joining: visitor.channel)
            #expect(try await replayed(tabletBack, in: visitor.channel) == ["m3"])
            let phoneBack = try await device("alicephone", on: server, joining: visitor.channel)
            #expect(try await replayed(phoneBack, in: visitor.channel) == ["m2", "m3"])
        }
    }

    @Test("a device back under another nick is replayed from the earliest departure: a line twice rather than one missed")
    func unknownNickComesBack() async throws {
        try await withServer { server in
            let laptop = try await operatorInWebsite(server, "alice", caps: ["server-time"])
            let visitor = try await assignedVisitor(to: laptop, on: server, name: "Anna")
            let phone = try await device("alicephone", on: server, joining: visitor.channel)
            let tablet = try await device("alicetab", on: server, joining: visitor.channel)
            await phone.close()
            try await Task.sleep(for: .milliseconds(300))
            _ = try await visitor.say("m1")
            try await tablet.expect("m1") { $0.command == "PRIVMSG" && $0.params[1] == "m1" }
            await tablet.close()
            try await Task.sleep(for: .milliseconds(300))
            _ = try await visitor.say("m2")
            try await laptop.expect("m2") { $0.command == "PRIVMSG" && $0.params[1] == "m2" }

            let renamed = try await device("alicetab_", on: server, joining: visitor.channel)
            #expect(try await replayed(renamed, in: visitor.channel) == ["m1", "m2"])
            let phoneBack = try await device("alicephone", on: server, joining: visitor.channel)
            #expect(try await replayed(phoneBack, in: visitor.channel) == ["m1", "m2"])
        }
    }

    @Test("after a restart, the second device back gets nothing it had, and a new device gets the whole conversation")
    func restartWithTwoDevices() async throws {
        var server = try await TestServer.start()
        do {
            let laptop = try await operatorInWebsite(server, "alice", caps: ["server-time"])
            let phone = try await operatorInWebsite(server, "alicephone", login: "alice", caps: ["server-time"])
            let visitor = try await assignedVisitor(to: laptop, on: server, name: "Anna")
            try await phone.expect("the phone's JOIN") { $0.command == "JOIN" && $0.params.first == visitor.channel }
            _ = try await visitor.say("before the restart")
            try await phone.expect("PRIVMSG") { $0.command == "PRIVMSG" && $0.params[1] == "before the restart" }
            try await laptop.expect("PRIVMSG") { $0.command == "PRIVMSG" && $0.params[1] == "before the restart" }

            server = try await server.restarted()
            // The laptop is back at login, and auto-joins #website (as irssi does) before the phone comes.
            let laptopBack = try await device("alice", on: server, joining: visitor.channel)
            #expect(try await replayed(laptopBack, in: visitor.channel).isEmpty)
            let phoneBack = try await device("alicephone", on: server, joining: visitor.channel)
            #expect(try await replayed(phoneBack, in: visitor.channel).isEmpty)

            let tablet = try await device("alicetab", on: server, joining: visitor.channel)
            #expect(try await replayed(tablet, in: visitor.channel) == ["before the restart"])
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }
}
