import Foundation
import Hummingbird
import HummingbirdWebSocket
import LiveChat
import Logging
import NIOCore

/// The visitor API under `/api/v1`: channel info, starting a conversation,
/// and the conversation routes, each of which needs the conversation's bearer
/// token. Errors are `APIError`s; `JSONErrorMiddleware` renders them.
struct VisitorAPI: Sendable {
    let gateway: any VisitorGateway
    let limits: RateLimits
    let metrics: WebMetrics
    let origins: OriginPolicy
    let refusals: UpgradeRefusals
    let logger: Logger

    var poster: MessagePoster {
        MessagePoster(gateway: gateway, limits: limits, metrics: metrics, logger: logger)
    }

    func addRoutes(to router: some RouterMethods<WebRequestContext>) {
        let api = router.group("api/v1")

        api.get("livechat/:slug") { _, context -> Response in
            let summary = try await channel(context)
            return try JSON.response(ChannelInfoBody(summary))
        }

        api.post("livechat/:slug/conversations") { request, context -> Response in
            let summary = try await channel(context)
            let input = try JSON.decode(CreateConversationRequest.self, from: try await body(request, context))
            let enabled = summary.languages.compactMap(LanguageTag.init)
            let new = NewConversation(
                slug: summary.slug,
                name: try Validate.optional(input.name, field: "name", limit: APILimits.maxNameLength, ordered: true),
                page: try Validate.optional(input.page, field: "page", limit: APILimits.maxURLLength, ordered: true),
                pageTitle: try Validate.optional(input.title, field: "title", limit: APILimits.maxTitleLength),
                visitor: try Validate.optional(input.visitor, field: "visitor", limit: APILimits.maxVisitorIDLength),
                languages: AcceptLanguage.parse(request.headers[.acceptLanguage] ?? "", enabled: enabled),
                userAgent: request.headers[.userAgent].map { String($0.unicodeScalars.prefix(APILimits.maxUserAgentLength)) })
            // Counted once the request is valid: a refused one starts no conversation.
            try limit(.conversations, context)
            let created: CreatedConversation
            do {
                created = try await gateway.createConversation(new)
            } catch let error as GatewayError {
                throw APIError(error)
            }
            metrics.conversationsCreated.increment()
            return try JSON.response(CreatedConversationBody(created), status: .created)
        }

        api.get("conversations/:id") { request, context -> Response in
            let id = try await authorize(request, context)
            do {
                return try JSON.response(ConversationStateBody(id: id, state: try await gateway.state(conversation: id)))
            } catch let error as GatewayError {
                throw APIError(error)
            }
        }

        api.get("conversations/:id/messages") { request, context -> Response in
            let id = try await authorize(request, context)
            let after = try Validate.after(request.uri.queryParameters.get("after")) ?? 0
            do {
                let page = try await gateway.messages(conversation: id, after: after, limit: APILimits.pageSize)
                return try JSON.response(MessagePageBody(messages: page.messages.map(MessageBody.init), more: page.more))
            } catch let error as GatewayError {
                throw APIError(error)
            }
        }

        api.post("conversations/:id/messages") { request, context -> Response in
            let id = try await authorize(request, context)
            let input = try JSON.decode(PostMessageRequest.self, from: try await body(request, context))
            let message = try await poster.post(input.text, conversation: id, from: context.remoteAddress)
            return try JSON.response(PostedMessageBody(id: message.id, at: Timestamp.string(message.at)), status: .created)
        }

        api.post("conversations/:id/pages") { request, context -> Response in
            let id = try await authorize(request, context)
            let input = try JSON.decode(PageRequest.self, from: try await body(request, context))
            guard let url = try Validate.optional(input.url, field: "url", limit: APILimits.maxURLLength, ordered: true) else {
                throw APIError.badRequest("The field \"url\" is missing.")
            }
            let title = try Validate.optional(input.title, field: "title", limit: APILimits.maxTitleLength)
            // Page reports reach the operators' IRC clients: they count as messages.
            try limit(.messages, context)
            do {
                try await gateway.visitorPage(conversation: id, url: url, title: title)
            } catch let error as GatewayError {
                throw APIError(error)
            }
            return try JSON.response(StatusBody(status: "ok"))
        }

        api.post("conversations/:id/close") { request, context -> Response in
            let id = try await authorize(request, context)
            do {
                try await gateway.visitorClose(conversation: id)
            } catch GatewayError.conversationClosed {
                // Closing twice is not an error: the widget may retry after a lost answer.
            } catch let error as GatewayError {
                throw APIError(error)
            }
            return try JSON.response(StatusBody(status: "closed"))
        }

        api.post("conversations/:id/rating") { request, context -> Response in
            let id = try await authorize(request, context)
            let input = try JSON.decode(RatingRequest.self, from: try await body(request, context))
            let rating = input.rating
            guard [1, 3, 5].contains(rating) else {
                throw APIError(.badRequest, .invalidRating, "\"rating\" must be 1, 3 or 5.")
            }
            let comment = try Validate.freeText(input.comment, what: "comment")
            do {
                try await gateway.rate(conversation: id, rating: rating, comment: comment)
            } catch let error as GatewayError {
                throw APIError(error)
            }
            return try JSON.response(StatusBody(status: "ok"))
        }

        // A plain GET (no upgrade) of the events route: same checks, then 426; a
        // WebSocket handshake that cannot be taken (RFC 6455 4.2.1) says why.
        api.get("conversations/:id/events") { request, context -> Response in
            _ = try await authorize(request, context, queryToken: true)
            let versions = request.headers[values: .secWebSocketVersion]
            let keys = request.headers[values: .secWebSocketKey]
            let upgrade: HTTPFields = [.upgrade: "websocket", .connection: "Upgrade", .secWebSocketVersion: "13"]
            if !versions.isEmpty, versions != ["13"] {
                throw APIError(.upgradeRequired, .upgradeRequired, "Only WebSocket version 13 is supported.", headers: upgrade)
            }
            if !versions.isEmpty || !keys.isEmpty {
                throw APIError(.badRequest, .badRequest,
                               "A WebSocket handshake needs one Sec-WebSocket-Key and Sec-WebSocket-Version: 13.")
            }
            throw APIError(.upgradeRequired, .upgradeRequired, "This route is a WebSocket.", headers: upgrade)
        }
    }

    /// `GET /api/v1/conversations/{id}/events` on the WebSocket router. Every
    /// check happens before the upgrade; a refusal is answered by `UpgradeRefusals`.
    func addEventsRoute(to router: Router<WebRequestContext>, socket: EventSocket) {
        // The socket subscribes to the conversation's events before the upgrade is
        // answered: an event that happens as soon as the visitor sees the upgrade
        // (an operator joining) must not fall before the subscription.
        let subscriptions = PerConnection<AsyncStream<VisitorEvent>>()
        router.webSocketRoute("/api/v1/conversations/:id/events", shouldUpgrade: { request, context in
            do {
                if origins.verdict(request) == .denied {
                    throw APIError.originNotAllowed
                }
                let id = try await authorize(request, context, queryToken: true)
                _ = try Validate.after(request.uri.queryParameters.get("after"))
                subscriptions.put(await gateway.events(conversation: id), on: context.channel)
                return .upgrade([:])
            } catch {
                let refusal = APIError.from(error, logger: logger)
                logger.debug("events WebSocket refused", metadata: ["path": "\(request.uri.path)", "reason": "\(refusal)"])
                refusals.record(refusal, on: context.channel)
                return .dontUpgrade
            }
        }, onUpgrade: { inbound, outbound, webSocketContext in
            let context = webSocketContext.requestContext
            let query = webSocketContext.request.uri.queryParameters
            guard let id = try? Validate.conversationID(context.parameters.get("id")) else { return }
            let after = (try? Validate.after(query.get("after"))) ?? nil
            let events = subscriptions.take(for: context.channel)
            try await socket.run(conversation: id, after: after, events: events, address: context.remoteAddress,
                                 connection: context.channel, inbound: inbound, outbound: outbound)
        })
    }

    // MARK: Steps shared by the routes

    private func channel(_ context: WebRequestContext) async throws(APIError) -> ChannelSummary {
        let slug = context.parameters.get("slug") ?? ""
        guard let summary = await gateway.channel(slug: slug) else { throw .unknownChannel(slug) }
        return summary
    }

    /// The conversation id of the route, once the request's token is checked
    /// (`Authorization: Bearer`, or for the WebSocket also `?token=`). Unknown
    /// ids, malformed ids and wrong tokens all get the same 401.
    private func authorize(_ request: Request, _ context: WebRequestContext, queryToken: Bool = false) async throws(APIError) -> Int64 {
        let id = try Validate.conversationID(context.parameters.get("id"))
        var token = Self.bearerToken(request.headers[.authorization])
        if token == nil, queryToken {
            token = request.uri.queryParameters.get("token")
        }
        guard let token, !token.isEmpty, token.utf8.count <= APILimits.maxTokenLength,
              await gateway.authorize(conversation: id, token: token)
        else { throw .unauthorized }
        return id
    }

    static func bearerToken(_ header: String?) -> String? {
        guard let header else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        return token.isEmpty ? nil : token
    }

    private func limit(_ kind: RateLimits.Kind, _ context: WebRequestContext) throws(APIError) {
        if let limited = limits.check(kind, from: context.remoteAddress) {
            metrics.rateLimited(kind)
            throw limited
        }
    }

    /// The request body, at most `maxUploadSize` bytes (413 beyond, without
    /// reading it when `Content-Length` already says so).
    private func body(_ request: Request, _ context: WebRequestContext) async throws -> ByteBuffer {
        let limit = context.maxUploadSize
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
            throw APIError.bodyTooLarge(limit: limit)
        }
        do {
            return try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw APIError.bodyTooLarge(limit: limit)
        }
    }
}
