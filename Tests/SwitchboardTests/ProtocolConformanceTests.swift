import Foundation
import IRCProtocol
import Testing

@Suite("Protocol conformance")
struct ProtocolConformanceTests {
    /// `alice` (operator of `channel`) and `bob` (not on it).
    private func aliceAndOutsider(_ server: TestServer, channel: String) async throws -> (TestIRCClient, TestIRCClient) {
        let alice = try await server.client("alice")
        let bob = try await server.client("bob")
        try await alice.send("JOIN \(channel)")
        try await alice.expect("366")
        return (alice, bob)
    }

    @Test("a secret channel's modes and bans are not shown to non-members")
    func secretChannelModes() async throws {
        try await withServer { server in
            let (alice, bob) = try await aliceAndOutsider(server, channel: "#sec")
            try await alice.send("MODE #sec +sb evil")
            try await alice.expect("MODE")
            for query in ["MODE #sec", "MODE #sec b", "MODE #sec +b"] {
                try await bob.send(query)
                let answer = try await bob.expect("an answer to \(query)") { ["442", "324", "367", "368"].contains($0.command) }
                #expect(answer.command == "442", "\(query)")
                #expect(answer.params == ["bob", "#sec", "You're not on that channel"])
            }
            // Members still see them.
            try await alice.send("MODE #sec b")
            #expect(try await alice.expect("367").params[2] == "evil!*@*")
            try await alice.send("MODE #sec")
            #expect(try await alice.expect("324").params == ["alice", "#sec", "+nst"])
        }
    }

    @Test("the key and the limit in 324 are shown to members only")
    func keyAndLimitForMembersOnly() async throws {
        try await withServer { server in
            let (alice, bob) = try await aliceAndOutsider(server, channel: "#kl")
            try await alice.send("MODE #kl +kl sesame 10")
            try await alice.expect("MODE")
            try await alice.send("MODE #kl")
            #expect(try await alice.expect("324").params == ["alice", "#kl", "+klnt", "sesame", "10"])
            try await bob.send("MODE #kl")
            #expect(try await bob.expect("324").params == ["bob", "#kl", "+klnt"])
        }
    }
}
