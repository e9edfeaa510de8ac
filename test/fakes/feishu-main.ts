/**
 * Runs the fake Feishu server as a process:
 *   bun test/fakes/feishu-main.ts --port 9000 [--app-id cli_…] [--app-secret …] [--encrypt-key …]
 *                                 [--verification-token …] [--bot-name …] [--bot-open-id ou_…]
 * Prints one JSON line ({url, port, appId, appSecret, …}) and runs until SIGTERM/SIGINT.
 * Drive it over HTTP with the /_fake/ control API (see feishu-control.ts).
 */
import { parseArgs } from "node:util";
import { startFakeFeishu } from "./feishu.ts";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    port: { type: "string", default: "0" },
    "app-id": { type: "string" },
    "app-secret": { type: "string" },
    "bot-open-id": { type: "string" },
    "bot-name": { type: "string" },
    "encrypt-key": { type: "string" },
    "verification-token": { type: "string" },
  },
  strict: true,
});

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`invalid --port ${values.port}`);
  process.exit(2);
}

const fake = await startFakeFeishu({
  port,
  appId: values["app-id"],
  appSecret: values["app-secret"],
  botOpenId: values["bot-open-id"],
  botName: values["bot-name"],
  encryptKey: values["encrypt-key"],
  verificationToken: values["verification-token"],
});

console.log(
  JSON.stringify({
    url: fake.url,
    port: fake.port,
    appId: fake.appId,
    appSecret: fake.appSecret,
    botOpenId: fake.botOpenId,
    botName: fake.botName,
    tenantKey: fake.tenantKey,
    verificationToken: fake.verificationToken,
    encryptKey: fake.ctx.encryptKey,
  }),
);

let stopping = false;
async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await fake.stop();
  process.exit(0);
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
