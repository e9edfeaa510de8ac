/** Console strings, Chinese first; the choice is remembered in localStorage. */
const zh = {
  title: "中继管理台",
  overview: "概览",
  users: "用户",
  groups: "群组",
  errors: "最近错误",
  signOut: "退出",
  switchLang: "English",
  version: "版本",
  uptime: "已运行",
  feishu: "飞书",
  feishuOk: "正常",
  feishuFailing: "异常",
  feishuUnconfigured: "未配置",
  lastError: "最近错误",
  plugins: "已连接插件",
  outboxBacklog: "待发送",
  outboxFailed: "近 1 小时发送失败",
  lastFailure: "最近一次失败",
  eventsPerSec: "事件/秒（近 1 小时，每分钟）",
  sendsPerSec: "发送/秒（近 1 小时，每分钟）",
  inboxPending: "待投递消息（按用户）",
  nodes: "集群节点",
  node: "节点",
  heartbeat: "最近心跳",
  connections: "连接数",
  none: "无",
  name: "名称",
  pending: "待投递",
  connected: "已连接",
  disconnected: "未连接",
  lastSeen: "最近在线",
  status: "状态",
  revoked: "已吊销",
  llm: "LLM 服务",
  defaultLlm: "（默认）",
  actions: "操作",
  revoke: "吊销",
  confirmRevoke: "确认吊销？",
  search: "搜索：名称、ID 或 open_id",
  createUser: "创建用户",
  openId: "open_id",
  create: "创建",
  tokenOnce: "新令牌只显示这一次，请立即复制：",
  copy: "复制",
  copied: "已复制",
  chat: "群",
  owner: "绑定到",
  mention: "需要 @机器人",
  boundBy: "绑定方式",
  updated: "更新时间",
  unbind: "解绑",
  yes: "是",
  no: "否",
  noGroups: "还没有绑定的群。",
  noErrors: "最近没有警告或错误。",
  time: "时间",
  level: "级别",
  event: "事件",
  details: "详情",
  loginTitle: "登录中继管理台",
  loginFeishu: "使用飞书登录",
  loginToken: "使用管理员令牌登录（应急）",
  adminToken: "管理员令牌 ADMIN_TOKEN",
  signIn: "登录",
  loginNone: "未配置任何登录方式：请设置 ADMIN_OPEN_IDS（并配置飞书应用）或 ADMIN_TOKEN。",
  failed: "操作失败",
  refresh: "刷新",
  minutes: "分钟",
  hours: "小时",
  days: "天",
};

export type Key = keyof typeof zh;

const en: Record<Key, string> = {
  title: "Relay console",
  overview: "Overview",
  users: "Users",
  groups: "Groups",
  errors: "Recent errors",
  signOut: "Sign out",
  switchLang: "中文",
  version: "Version",
  uptime: "Uptime",
  feishu: "Feishu",
  feishuOk: "OK",
  feishuFailing: "Failing",
  feishuUnconfigured: "Not configured",
  lastError: "Last error",
  plugins: "Connected plugins",
  outboxBacklog: "Waiting to send",
  outboxFailed: "Send failures, last hour",
  lastFailure: "Last failure",
  eventsPerSec: "Events/s (last hour, per minute)",
  sendsPerSec: "Sends/s (last hour, per minute)",
  inboxPending: "Messages waiting, by user",
  nodes: "Cluster nodes",
  node: "Node",
  heartbeat: "Last heartbeat",
  connections: "Connections",
  none: "None",
  name: "Name",
  pending: "Pending",
  connected: "Connected",
  disconnected: "Offline",
  lastSeen: "Last seen",
  status: "Status",
  revoked: "Revoked",
  llm: "LLM provider",
  defaultLlm: "(default)",
  actions: "Actions",
  revoke: "Revoke",
  confirmRevoke: "Really revoke?",
  search: "Search: name, id or open_id",
  createUser: "Create user",
  openId: "open_id",
  create: "Create",
  tokenOnce: "The new token is shown only this once; copy it now:",
  copy: "Copy",
  copied: "Copied",
  chat: "Group",
  owner: "Bound to",
  mention: "Needs @bot",
  boundBy: "Bound by",
  updated: "Updated",
  unbind: "Unbind",
  yes: "yes",
  no: "no",
  noGroups: "No groups are bound yet.",
  noErrors: "No warnings or errors lately.",
  time: "Time",
  level: "Level",
  event: "Event",
  details: "Details",
  loginTitle: "Sign in to the relay console",
  loginFeishu: "Sign in with Feishu",
  loginToken: "Sign in with the admin token (break-glass)",
  adminToken: "Admin token ADMIN_TOKEN",
  signIn: "Sign in",
  loginNone: "No sign-in method is configured: set ADMIN_OPEN_IDS (with the Feishu app) or ADMIN_TOKEN.",
  failed: "Failed",
  refresh: "Refresh",
  minutes: "min",
  hours: "h",
  days: "d",
};

export type Lang = "zh" | "en";
const STORE_KEY = "openclaw-relay.console.lang";

let lang: Lang = localStorage.getItem(STORE_KEY) === "en" ? "en" : "zh";

export const currentLang = (): Lang => lang;

export function setLang(next: Lang): void {
  lang = next;
  localStorage.setItem(STORE_KEY, next);
  document.documentElement.lang = next === "zh" ? "zh-CN" : "en";
}

export function t(key: Key): string {
  return (lang === "zh" ? zh : en)[key];
}

/** `3 天 4 小时` / `3 d 4 h`. */
export function duration(sec: number): string {
  const d = Math.floor(sec / 86400);
  const hh = Math.floor((sec % 86400) / 3600);
  const m = Math.floor((sec % 3600) / 60);
  if (d > 0) return `${d} ${t("days")} ${hh} ${t("hours")}`;
  if (hh > 0) return `${hh} ${t("hours")} ${m} ${t("minutes")}`;
  return `${m} ${t("minutes")}`;
}
