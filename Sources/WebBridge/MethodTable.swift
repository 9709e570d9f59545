import Hummingbird

/// Registers routes on a router and remembers which methods each path
/// answers, so that another method on a known path gets `405` with an `Allow`
/// header rather than `404` (the route exists; the method is wrong).
final class MethodTableRouter: RouterMethods {
    typealias Context = WebRequestContext

    let router: Router<WebRequestContext>
    /// Paths in the order they were first registered, with their methods.
    private var paths: [(path: RouterPath, methods: Set<HTTPRequest.Method>)] = []
    private var index: [String: Int] = [:]

    init(_ router: Router<WebRequestContext>) {
        self.router = router
    }

    @discardableResult
    func on<Responder: HTTPResponder>(_ path: RouterPath, method: HTTPRequest.Method, responder: Responder) -> Self
    where Responder.Context == WebRequestContext {
        router.on(path, method: method, responder: responder)
        let key = path.description
        if let position = index[key] {
            paths[position].methods.insert(method)
        } else {
            index[key] = paths.count
            paths.append((path, [method]))
        }
        return self
    }

    @discardableResult
    func add(middleware: any MiddlewareProtocol<Request, Response, WebRequestContext>) -> Self {
        router.add(middleware: middleware)
        return self
    }

    /// The methods other than HEAD and OPTIONS (HEAD is answered wherever GET
    /// is; OPTIONS is the CORS preflight) that a route may be asked with.
    static let checkedMethods: [HTTPRequest.Method] = [.get, .post, .put, .patch, .delete]

    /// Answers the methods each registered path lacks with 405, and OPTIONS with
    /// `204` and the path's `Allow` (a CORS preflight is that answer, which
    /// `CORSMiddleware` completes); a path no route has stays 404 for every method.
    /// Call it after the routes are added, and after the middleware (so errors
    /// render as JSON).
    func answerOtherMethods() {
        for (path, methods) in paths {
            var allowed = methods.union([.options])
            if allowed.contains(.get) { allowed.insert(.head) }
            let allow = allowed.map(\.rawValue).sorted().joined(separator: ", ")
            for method in Self.checkedMethods where !methods.contains(method) {
                router.on(path, method: method) { request, _ -> Response in
                    throw APIError.methodNotAllowed(request.method, allow: allow)
                }
            }
            if !methods.contains(.options) {
                router.on(path, method: .options) { _, _ -> Response in
                    Response(status: .noContent, headers: [.allow: allow])
                }
            }
        }
    }
}
