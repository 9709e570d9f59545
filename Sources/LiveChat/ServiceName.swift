/// The live chat service's name: its IRC nick, and a login no operator may take
/// (an account of that name would show as the service in `account` tags).
public enum ServiceName {
    public static let liveChat = "LiveChat"
}
