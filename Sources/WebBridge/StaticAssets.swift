import Foundation
import Hummingbird
import LiveChat
import Logging
import NIOCore

/// The widget's files (`Sources/WebBridge/Assets`, shipped as a SwiftPM
/// resource), read once at start-up and served with `Cache-Control: no-cache`
/// and an `ETag`, so browsers always revalidate and mostly get a 304.
struct StaticAssets: Sendable {
    struct Asset: Sendable {
        var body: ByteBuffer
        var contentType: String
        var etag: String
    }

    /// By file name (`widget.js`).
    let files: [String: Asset]

    /// The `Assets` folder inside the module's resource bundle.
    static var bundledDirectory: URL? {
        Bundle.module.url(forResource: "Assets", withExtension: nil)
    }

    init(directory: URL?, logger: Logger) {
        var files: [String: Asset] = [:]
        let names = directory.flatMap { try? FileManager.default.contentsOfDirectory(atPath: $0.path) } ?? []
        for name in names.sorted() where Self.isServable(name) {
            guard let directory, let data = FileManager.default.contents(atPath: directory.appendingPathComponent(name).path)
            else { continue }
            files[name] = Asset(body: ByteBuffer(data: data), contentType: Self.contentType(of: name),
                                etag: "\"\(Self.fingerprint(data))\"")
        }
        if files.isEmpty {
            logger.warning("no web assets found", metadata: ["directory": "\(directory?.path ?? "none")"])
        }
        self.files = files
    }

    /// The answer for `name`, or nil when there is no such file.
    func response(_ name: String, for request: Request) -> Response? {
        guard let asset = files[name] else { return nil }
        var headers: HTTPFields = [
            .contentType: asset.contentType,
            .cacheControl: "no-cache",
            .eTag: asset.etag,
            .xContentTypeOptions: "nosniff",
        ]
        if !asset.contentType.hasPrefix("text/html") {
            // The widget's script and style are embedded by other sites.
            headers[.accessControlAllowOrigin] = "*"
            headers[.crossOriginResourcePolicy] = "cross-origin"
        }
        if let tags = request.headers[.ifNoneMatch],
           tags == "*" || tags.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == asset.etag }) {
            return Response(status: .notModified, headers: headers)
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: asset.body))
    }

    /// Plain file names only: they become routes.
    static func isServable(_ name: String) -> Bool {
        !name.hasPrefix(".") && !name.isEmpty
            && name.unicodeScalars.allSatisfy { ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || "._-".unicodeScalars.contains($0) }
    }

    static func contentType(of name: String) -> String {
        switch (name as NSString).pathExtension.lowercased() {
        case "html", "htm": "text/html; charset=utf-8"
        case "js", "mjs": "text/javascript; charset=utf-8"
        case "css": "text/css; charset=utf-8"
        case "json", "map": "application/json; charset=utf-8"
        case "svg": "image/svg+xml"
        case "png": "image/png"
        case "ico": "image/x-icon"
        case "webp": "image/webp"
        case "woff2": "font/woff2"
        case "txt": "text/plain; charset=utf-8"
        default: "application/octet-stream"
        }
    }

    /// FNV-1a, 64 bits: enough to tell versions of a file apart.
    private static func fingerprint(_ data: Data) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in data {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}

extension StaticAssets {
    /// `GET /` (the demo page), `GET /livechat/{slug}` (the full-page chat, for
    /// known channels only), and every other file by its name (`/widget.js`).
    func addRoutes(to router: some RouterMethods<WebRequestContext>, gateway: any VisitorGateway) {
        router.get("/") { request, _ -> Response in
            guard let response = response("index.html", for: request) else { throw APIError.notFound }
            return response
        }
        router.get("/livechat/:slug") { request, context -> Response in
            let slug = context.parameters.get("slug") ?? ""
            guard await gateway.channel(slug: slug) != nil else { return Self.unknownChannelPage(slug) }
            guard let response = response("livechat.html", for: request) else { throw APIError.notFound }
            return response
        }
        for name in files.keys.sorted() where name != "index.html" && name != "livechat.html" {
            router.get(RouterPath("/\(name)")) { request, _ -> Response in
                guard let response = response(name, for: request) else { throw APIError.notFound }
                return response
            }
        }
    }

    private static func unknownChannelPage(_ slug: String) -> Response {
        let html = """
            <!doctype html>
            <html lang="en"><meta charset="utf-8"><title>Live chat not found</title>
            <p>There is no live chat here.</p></html>

            """
        return Response(status: .notFound,
                        headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-cache",
                                  .xContentTypeOptions: "nosniff"],
                        body: .init(byteBuffer: ByteBuffer(string: html)))
    }
}
