export const CONSOLE_JS = "";
export const CONSOLE_CSS = "";
