import Foundation
import Hummingbird
import LiveChat
import Logging
import NIOCore
import NIOHTTP1

/// An error answer of the web bridge: `{"error": "<code>", "message": "..."}`
/// with a fitting status. The codes are part of the API (see docs/web-api.md);
/// the messages are for people and may change.
public struct APIError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A stable, short snake_case code.
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// 400: the body is not JSON, or a field has the wrong type or an invalid value.
        public static let badRequest = Code(rawValue: "bad_request")
        /// 400: a message without text (missing, empty or only spaces).
        public static let textRequired = Code(rawValue: "text_required")
        /// 400: a message (or a rating comment) longer than `APILimits.maxTextLength`.
        public static let textTooLong = Code(rawValue: "text_too_long")
        /// 400: a rating other than 1, 3 or 5.
        public static let invalidRating = Code(rawValue: "invalid_rating")
        /// 401: no token, a wrong token, or a conversation that does not exist (indistinguishable on purpose).
        public static let unauthorized = Code(rawValue: "unauthorized")
        /// 403: the request's `Origin` is neither allowed nor the server's own.
        public static let originNotAllowed = Code(rawValue: "origin_not_allowed")
        /// 404: no such route.
        public static let notFound = Code(rawValue: "not_found")
        /// 404: no live chat channel with this slug.
        public static let unknownChannel = Code(rawValue: "unknown_channel")
        /// 405: the route exists, but not with this method; `Allow` lists the methods it takes.
        public static let methodNotAllowed = Code(rawValue: "method_not_allowed")
        /// 409: the conversation is closed; nothing more can be said in it.
        public static let conversationClosed = Code(rawValue: "conversation_closed")
        /// 408: a new connection sent no complete request in time (then it is closed).
        public static let requestTimeout = Code(rawValue: "request_timeout")
        /// 413: the body is larger than `web.max_body_bytes`.
        public static let bodyTooLarge = Code(rawValue: "body_too_large")
        /// 426: the events route only speaks WebSocket.
        public static let upgradeRequired = Code(rawValue: "upgrade_required")
        /// 429: too many requests from this address; `Retry-After` says when to try again.
        public static let rateLimited = Code(rawValue: "rate_limited")
        /// 500: a bug; the server logged it.
        public static let internalError = Code(rawValue: "internal_error")
        /// 503: the live chat engine cannot take the request now (e.g. shutting down).
        public static let unavailable = Code(rawValue: "unavailable")
    }

    public var status: HTTPResponse.Status
    public var code: Code
    public var message: String
    /// Seconds, for `Retry-After` (429).
    public var retryAfter: Int?
    /// Headers the answer carries besides `Content-Type` and `Retry-After`.
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, _ code: Code, _ message: String, retryAfter: Int? = nil,
                headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
        self.headers = headers
    }

    public var description: String { "\(status.code) \(code): \(message)" }

    static func badRequest(_ message: String) -> APIError { APIError(.badRequest, .badRequest, message) }
    static let unreadableRequest = badRequest("The request could not be read as HTTP/1.1.")
    static let unauthorized = APIError(.unauthorized, .unauthorized, "Missing or invalid token for this conversation.",
                                       headers: [.wwwAuthenticate: "Bearer"])
    static let notFound = APIError(.notFound, .notFound, "There is nothing here.")
    static func unknownChannel(_ slug: String) -> APIError {
        APIError(.notFound, .unknownChannel, "There is no live chat channel \"\(slug)\".")
    }
    static func methodNotAllowed(_ method: HTTPRequest.Method, allow: String) -> APIError {
        APIError(.methodNotAllowed, .methodNotAllowed, "This route does not take \(method.rawValue); it takes \(allow).",
                 headers: [.allow: allow])
    }
    static let conversationClosed = APIError(.conflict, .conversationClosed, "The conversation is closed.")
    static func bodyTooLarge(limit: Int) -> APIError {
        APIError(.contentTooLarge, .bodyTooLarge, "The request body is larger than \(limit) bytes.")
    }
    static let originNotAllowed = APIError(.forbidden, .originNotAllowed, "This origin may not use the live chat API.")

    /// The JSON body of this error.
    var body: ByteBuffer {
        ByteBuffer(data: (try? JSON.encode(ErrorBody(error: code.rawValue, message: message))) ?? Data())
    }

    /// Every header of the answer but CORS (added by the middleware).
    var responseHeaders: HTTPFields {
        var fields: HTTPFields = [.contentType: JSON.contentType]
        if let retryAfter { fields[.retryAfter] = String(retryAfter) }
        fields.append(contentsOf: headers)
        return fields
    }

    /// The full response.
    func response() -> Response {
        Response(status: status, headers: responseHeaders, body: .init(byteBuffer: body))
    }
}

struct ErrorBody: Encodable {
    var error: String
    var message: String
}

extension APIError: HTTPResponseError {
    public func response(from request: Request, context: some RequestContext) throws -> Response { response() }
}

extension APIError {
    /// The answer for a live chat engine error. An unknown conversation is a 401,
    /// like a wrong token, so that ids reveal nothing.
    init(_ error: GatewayError) {
        switch error {
        case .unknownChannel(let slug): self = .unknownChannel(slug)
        case .unknownConversation: self = .unauthorized
        case .conversationClosed: self = .conversationClosed
        case .invalid(let reason): self = .badRequest(reason)
        case .unavailable(let reason): self = APIError(.serviceUnavailable, .unavailable, reason)
        }
    }

    /// Any error thrown while answering, as the API shows it.
    static func from(_ error: any Error, logger: Logger) -> APIError {
        switch error {
        case let error as APIError:
            return error
        case let error as GatewayError:
            return APIError(error)
        case is NIOTooManyBytesError:
            return APIError(.contentTooLarge, .bodyTooLarge, "The request body is too large.")
        case let error as HTTPError:
            return APIError(httpStatus: error.status, message: error.body)
        case let error as any HTTPResponseError:
            return APIError(httpStatus: error.status, message: nil)
        case is HTTPParserError, is ChannelError, is IOError:
            // The client's request broke off or could not be read (a body cut short by a
            // closed connection, say): its problem, not the server's, and it may not
            // even get this answer.
            logger.debug("web request could not be read", metadata: ["error": "\(error)"])
            return .unreadableRequest
        default:
            logger.error("web request failed", metadata: ["error": "\(String(reflecting: error))"])
            return APIError(.internalServerError, .internalError, "Something went wrong on the server.")
        }
    }

    private init(httpStatus status: HTTPResponse.Status, message: String?) {
        let code: Code = switch status.code {
        case 400: .badRequest
        case 401: .unauthorized
        case 403: .originNotAllowed
        case 404: .notFound
        case 409: .conversationClosed
        case 413: .bodyTooLarge
        case 429: .rateLimited
        case 503: .unavailable
        default: Code(rawValue: status.reasonPhrase.lowercased().replacingOccurrences(of: " ", with: "_"))
        }
        self.init(status, code, message ?? status.reasonPhrase)
    }
}

/// Turns every error thrown by a route (or a missing route) into a JSON error
/// response, so that middleware further out (CORS) sees a normal response.
struct JSONErrorMiddleware: RouterMiddleware {
    typealias Context = WebRequestContext
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            return APIError.from(error, logger: logger).response()
        }
    }
}
