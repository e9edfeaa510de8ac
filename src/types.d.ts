declare module "*.sql" {
  const text: string;
  export default text;
}

/** Swagger UI's files, embedded with `type: "file"`: the default export is their path (src/ops/api-docs.ts). */
declare module "swagger-ui-dist/swagger-ui-bundle.js" {
  const text: string;
  export default text;
}
declare module "swagger-ui-dist/swagger-ui.css" {
  const text: string;
  export default text;
}
