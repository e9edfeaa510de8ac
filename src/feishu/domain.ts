/**
 * FEISHU_DOMAIN → the hosts every Feishu call goes to (feishu-reference.md, top): the Open API base
 * and the OAuth accounts host. A custom base URL (a fake, a proxy) serves both.
 */

export interface FeishuHosts {
  /** Open API base, e.g. `https://open.feishu.cn`; paths start with `/open-apis/…`. */
  open: string;
  /** OAuth pages and the v3 token endpoint, e.g. `https://accounts.feishu.cn`. */
  accounts: string;
}

export function feishuHosts(domain: string): FeishuHosts {
  if (domain === "feishu") return { open: "https://open.feishu.cn", accounts: "https://accounts.feishu.cn" };
  if (domain === "lark") {
    return { open: "https://open.larksuite.com", accounts: "https://accounts.larksuite.com" };
  }
  const base = domain.replace(/\/+$/, "");
  return { open: base, accounts: base };
}
