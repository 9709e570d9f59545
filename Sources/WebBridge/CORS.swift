import Hummingbird

/// Which web pages may call the API and open the events WebSocket: the
/// server's own origin, and the configured `allowed_origins`.
struct OriginPolicy: Sendable {
    enum Verdict: Equatable {
        /// No `Origin` header: not a cross-site browser request (curl, scripts, tests).
        case noOrigin
        /// The page is served by this server (the origin's host and port are the `Host` header).
        case sameOrigin
        /// One of the configured origins.
        case allowed
        case denied
    }

    /// Normalised (lowercase, no trailing slash, no default port).
    private let allowed: Set<String>

    init(allowedOrigins: [String]) {
        allowed = Set(allowedOrigins.compactMap(Self.normalise))
    }

    func verdict(origin: String?, host: String?) -> Verdict {
        guard let origin else { return .noOrigin }
        guard let normalised = Self.normalise(origin) else { return .denied }   // "null", garbage
        if allowed.contains(normalised) { return .allowed }
        if let host, let authority = Self.authority(of: normalised),
           authority == Self.stripDefaultPort(host.lowercased()) {
            return .sameOrigin
        }
        return .denied
    }

    func verdict(_ request: Request) -> Verdict {
        // HTTP/1 requests carry `Host` as the request's authority.
        verdict(origin: request.headers[.origin], host: request.head.authority)
    }

    /// `scheme://host[:port]` in lowercase without a default port, or nil when it is not such an origin.
    static func normalise(_ origin: String) -> String? {
        var text = origin.trimmingCharacters(in: .whitespaces).lowercased()
        while text.hasSuffix("/") { text.removeLast() }
        guard let range = text.range(of: "://") else { return nil }
        let scheme = text[..<range.lowerBound]
        let authority = text[range.upperBound...]
        guard !scheme.isEmpty, scheme.allSatisfy({ $0.isLetter || $0.isNumber || "+-.".contains($0) }),
              !authority.isEmpty, !authority.contains("/"), !authority.contains("@"), !authority.contains("?")
        else { return nil }
        return "\(scheme)://\(stripDefaultPort(String(authority)))"
    }

    /// `host[:port]` of a normalised origin.
    private static func authority(of origin: String) -> String? {
        origin.range(of: "://").map { String(origin[$0.upperBound...]) }
    }

    /// The comparison ignores the scheme, so `:80` and `:443` both count as "no port".
    private static func stripDefaultPort(_ authority: String) -> String {
        for suffix in [":80", ":443"] where authority.hasSuffix(suffix) {
            return String(authority.dropLast(suffix.count))
        }
        return authority
    }
}

/// CORS for `/api/`: refuses foreign origins with 403 before any route runs,
/// answers preflight requests, and labels answers for allowed origins.
struct CORSMiddleware: RouterMiddleware {
    typealias Context = WebRequestContext
    let policy: OriginPolicy

    static let allowedMethods = "GET, POST, OPTIONS"
    static let allowedHeaders = "Authorization, Content-Type"

    /// Whether the router serves `path` from the API. It skips empty segments, so
    /// `//api/...` reaches the same routes as `/api/...` and must meet the same checks.
    static func isAPIPath(_ path: String) -> Bool {
        path.split(separator: "/", omittingEmptySubsequences: true).first == "api"
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard Self.isAPIPath(request.uri.path) else {
            return try await next(request, context)
        }
        let origin = request.headers[.origin]
        let verdict = policy.verdict(request)
        var response: Response
        switch verdict {
        case .denied:
            response = APIError.originNotAllowed.response()
        case .noOrigin, .sameOrigin, .allowed:
            response = try await next(request, context)
            // A preflight of a route (an unknown path stays 404): the methods it answers.
            if request.method == .options, response.status == .noContent, origin != nil {
                response.headers[.accessControlAllowMethods] = response.headers[.allow] ?? Self.allowedMethods
                response.headers[.accessControlAllowHeaders] = Self.allowedHeaders
                response.headers[.accessControlMaxAge] = "600"
            }
        }
        if let origin, verdict == .allowed || verdict == .sameOrigin {
            response.headers[.accessControlAllowOrigin] = origin
            response.headers[.accessControlExposeHeaders] = "Retry-After"
        }
        response.headers[.vary] = "Origin"
        return response
    }
}
