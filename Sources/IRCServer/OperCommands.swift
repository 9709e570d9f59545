import IRCProtocol

/// Commands of IRC operators (server administrators in the IRC sense). This
/// server has none: operator accounts are live chat operators, administered with
/// the `switchboard operator` command, so these commands are refused with the
/// numerics clients know rather than "unknown command".
extension ServerState {
    func refuseOperCommand(_ client: Client, _ message: IRCMessage) {
        reply(client, .errNoPrivileges, "Permission Denied- You're not an IRC operator")
    }
}
