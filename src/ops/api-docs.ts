/**
 * `/swagger`: the API reference page, its assets and the OpenAPI document. The Swagger UI files are
 * embedded as files, so they live inside the compiled binary and the page works with no Internet
 * access (no CDN: the relay's users are often where public CDNs are unreachable).
 *
 * Memory: the files are embedded with `type: "file"` (a path, read per request) rather than as text,
 * and the document generator is imported on the first request for it. As 1.9 MB of string constants
 * and an eagerly loaded generator they cost every relay several MB of idle RSS for a page rarely opened.
 */
import { type AnyElysia, Elysia } from "elysia";
import cssPath from "swagger-ui-dist/swagger-ui.css" with { type: "file" };
import bundlePath from "swagger-ui-dist/swagger-ui-bundle.js" with { type: "file" };
import type { RelayContext } from "../context.ts";
import { HttpError } from "./errors.ts";

export const DOCS_PATH = "/swagger";
export const SPEC_PATH = "/swagger/json";

/** validatorUrl null: Swagger UI would otherwise send the document to validator.swagger.io. */
const init = `window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({ url: "${SPEC_PATH}", dom_id: "#swagger-ui", validatorUrl: null, deepLinking: true });
});
`;

const page = (title: string) => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<link rel="stylesheet" href="${DOCS_PATH}/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="${DOCS_PATH}/assets/swagger-ui-bundle.js"></script>
<script src="${DOCS_PATH}/assets/init.js"></script>
</body>
</html>
`;

const ASSETS: Record<string, { body: () => BodyInit; type: string }> = {
  "swagger-ui-bundle.js": { body: () => Bun.file(bundlePath), type: "text/javascript; charset=utf-8" },
  "swagger-ui.css": { body: () => Bun.file(cssPath), type: "text/css; charset=utf-8" },
  "init.js": { body: () => init, type: "text/javascript; charset=utf-8" },
};

const HEADERS = {
  // Only our own origin: a stray reference to a CDN fails loudly instead of leaking requests.
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'self' data:; base-uri 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
};

/**
 * `root` is the whole application: the document is generated from its routes on first request, once
 * every feature is mounted, and kept while the route count stays the same.
 */
export function apiDocsRoutes(ctx: RelayContext, root: () => AnyElysia) {
  const html = page("OpenClaw Relay API");
  let cached: { routes: number; doc: unknown } | undefined;
  const hidden = { detail: { hide: true } };
  return new Elysia({ name: "api-docs" })
    .get(
      DOCS_PATH,
      () => new Response(html, { headers: { ...HEADERS, "content-type": "text/html; charset=utf-8" } }),
      hidden,
    )
    .get(
      `${DOCS_PATH}/assets/:file`,
      ({ params }) => {
        const asset = ASSETS[params.file];
        if (!asset) throw new HttpError(404, "not_found", "no such asset");
        return new Response(asset.body(), {
          headers: { ...HEADERS, "content-type": asset.type, "cache-control": "public, max-age=86400" },
        });
      },
      hidden,
    )
    .get(
      SPEC_PATH,
      async () => {
        const app = root();
        const routes = app.routes.length;
        if (cached?.routes !== routes) {
          const { buildOpenApiDocument } = await import("./openapi-document.ts");
          cached = { routes, doc: buildOpenApiDocument(app, ctx.version) };
        }
        return cached.doc;
      },
      hidden,
    );
}
