declare module "*.sql" {
  const text: string;
  export default text;
}

/** Swagger UI's files, imported as text (src/ops/api-docs.ts). */
declare module "swagger-ui-dist/swagger-ui-bundle.js" {
  const text: string;
  export default text;
}
declare module "swagger-ui-dist/swagger-ui.css" {
  const text: string;
  export default text;
}
