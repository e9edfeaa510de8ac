import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { MAX_LOG_STRING, memoryLogger, type StdoutPort, stdoutWriter } from "../../src/ops/logger.ts";

describe("logger", () => {
  test("one JSON line per event; below the level nothing; secrets redacted by field name", () => {
    const { log, lines } = memoryLogger("info");
    log.debug("hidden", {});
    log.child({ module: "m" }).info("shown", { appSecret: "s3cret", token: "t0k", userId: 7 });
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0]!);
    expect(entry).toMatchObject({ level: "info", event: "shown", module: "m", userId: 7 });
    expect(entry.appSecret).toBe("[redacted]");
    expect(lines[0]).not.toContain("s3cret");
    expect(lines[0]).not.toContain("t0k");
  });

  test("stdout lines of one turn leave together, and none is lost when the process exits at once", async () => {
    const script = `
      import { Logger } from ${JSON.stringify(join(import.meta.dir, "../../src/ops/logger.ts"))};
      const log = new Logger("info");
      // Many lines of the longest field a line may carry: far more than one pipe buffer at exit.
      for (let i = 0; i < 400; i++) log.info("line", { i, text: "飞书".repeat(500) });
      process.exit(0);
    `;
    const proc = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "inherit" });
    const out = await new Response(proc.stdout).text();
    expect(await proc.exited).toBe(0);
    const lines = out.trimEnd().split("\n");
    expect(lines.map((l) => JSON.parse(l).i)).toEqual([...Array(400).keys()]);
  });

  test("a non-blocking stdout that fills up (EAGAIN) loses no line and keeps the order", async () => {
    // Lines of many event-loop turns, ~4 MB in all; nobody reads the pipe at first, then the reader
    // drains it while turns go on: direct writes hit EAGAIN, the rest queues behind them, and a later
    // turn must not overtake what is queued once the pipe has room again.
    const script = `
      import { Logger } from ${JSON.stringify(join(import.meta.dir, "../../src/ops/logger.ts"))};
      const log = new Logger("info");
      for (let turn = 0; turn < 20; turn++) {
        for (let i = 0; i < 40; i++) log.info("line", { i: turn * 40 + i, text: "飞书".repeat(800) });
        await Bun.sleep(15);
      }
      setTimeout(() => process.exit(0), 50);
    `;
    // python3 sets O_NONBLOCK on the pipe (as some supervisors leave it), then becomes the relay process.
    const nonBlocking =
      "import os,fcntl,sys; fcntl.fcntl(1, fcntl.F_SETFL, fcntl.fcntl(1, fcntl.F_GETFL) | os.O_NONBLOCK); os.execv(sys.argv[1], sys.argv[1:])";
    const proc = Bun.spawn(["python3", "-c", nonBlocking, process.execPath, "-e", script], {
      stdout: "pipe",
      stderr: "inherit",
    });
    await Bun.sleep(100);
    const out = await new Response(proc.stdout).text();
    expect(await proc.exited).toBe(0);
    const lines = out.trimEnd().split("\n");
    expect(lines.map((l) => JSON.parse(l).i)).toEqual([...Array(800).keys()]);
  });

  test("after an EAGAIN every later chunk queues behind the rest, even once the pipe has room again", () => {
    const written: string[] = [];
    const queued: string[] = [];
    let room = 5; // bytes the fake pipe takes before it is full
    const port: StdoutPort = {
      writeSync(bytes, off) {
        if (room === 0) throw Object.assign(new Error("full"), { code: "EAGAIN" });
        const n = Math.min(room, bytes.length - off);
        written.push(bytes.subarray(off, off + n).toString());
        room -= n;
        return n;
      },
      queue: (bytes) => void queued.push(bytes.toString()),
    };
    const write = stdoutWriter(port);
    write("line-1\n");
    room = 1000; // the reader caught up: a direct write now would overtake what is queued
    write("line-2\n");
    expect(written.join("")).toBe("line-");
    expect(queued).toEqual(["1\n", "line-2\n"]);
    expect(written.join("") + queued.join("")).toBe("line-1\nline-2\n");
  });

  test("a closed stdout (EPIPE) drops the chunk without throwing", () => {
    const queued: string[] = [];
    const write = stdoutWriter({
      writeSync: () => {
        throw Object.assign(new Error("broken pipe"), { code: "EPIPE" });
      },
      queue: (b) => void queued.push(String(b)),
    });
    expect(() => write("x\n")).not.toThrow();
    expect(queued).toEqual([]);
  });

  test("no field carries unbounded input: strings, error messages, arrays and nesting are cut with a marker", () => {
    const { log, lines } = memoryLogger("info");
    const huge = "A".repeat(5 * 1024 * 1024);
    let deep: unknown = "leaf";
    for (let i = 0; i < 10_000; i++) deep = { d: deep };
    log.child({ requestId: huge }).warn("attack", {
      message: huge,
      err: new Error(huge),
      list: Array(100_000).fill(huge),
      deep,
      [huge]: 1,
    });
    expect(lines).toHaveLength(1);
    expect(lines[0]!.length).toBeLessThan(64 * 1024);
    const entry = JSON.parse(lines[0]!);
    expect(entry.requestId).toStartWith("A".repeat(MAX_LOG_STRING));
    expect(entry.requestId).toEndWith(`…[truncated ${huge.length - MAX_LOG_STRING} chars]`);
    expect(entry.err.message).toContain("[truncated");
    expect(entry.list.at(-1)).toBe(`…[${100_000 - 20} more]`);
    expect(lines[0]).toContain("[nested]");
    // Short fields are untouched.
    log.info("fine", { userId: 7, outcome: "stored", nested: { a: [1, 2] } });
    expect(JSON.parse(lines[1]!)).toMatchObject({ userId: 7, outcome: "stored", nested: { a: [1, 2] } });
  });
});
