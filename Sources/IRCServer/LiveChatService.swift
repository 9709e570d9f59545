/// The `LiveChat` service pseudo-user.
enum LiveChatService {
    static let nick = "LiveChat"
}
