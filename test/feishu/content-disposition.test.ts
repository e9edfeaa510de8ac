import { describe, expect, test } from "bun:test";
import {
  attachmentDisposition,
  cleanFileName,
  fileNameFromDisposition,
  repairLatin1,
} from "../../src/feishu/content-disposition.ts";

/** What a header value looks like when its raw UTF-8 bytes are read one byte per character. */
const asLatin1 = (s: string) => Buffer.from(s, "utf8").toString("latin1");

describe("fileNameFromDisposition", () => {
  test("filename*=UTF-8''…, percent-decoded, wins over filename", () => {
    expect(
      fileNameFromDisposition(`attachment; filename="x.pdf"; filename*=UTF-8''%E5%AD%A3%E5%BA%A6.pdf`),
    ).toBe("季度.pdf");
    expect(fileNameFromDisposition(`attachment; filename*=utf-8''a%20b.txt`)).toBe("a b.txt");
    expect(fileNameFromDisposition(`attachment; filename*=ISO-8859-1'en'caf%E9.txt`)).toBe("café.txt");
  });

  test(`filename="…" and bare filename=…, with escapes`, () => {
    expect(fileNameFromDisposition(`attachment; filename="report \\"final\\".pdf"`)).toBe(
      'report "final".pdf',
    );
    expect(fileNameFromDisposition("inline; filename=plain.png")).toBe("plain.png");
  });

  test("UTF-8 read as latin1 is repaired; real latin1 and ASCII stay", () => {
    expect(fileNameFromDisposition(`attachment; filename="${asLatin1("季度报告.pdf")}"`)).toBe(
      "季度报告.pdf",
    );
    expect(repairLatin1("café")).toBe("café");
    expect(repairLatin1("plain.txt")).toBe("plain.txt");
    expect(repairLatin1("already 中文")).toBe("already 中文");
  });

  test("no name, a broken encoding, or only a path gives undefined; directories are dropped", () => {
    expect(fileNameFromDisposition(null)).toBeUndefined();
    expect(fileNameFromDisposition("attachment")).toBeUndefined();
    expect(fileNameFromDisposition(`attachment; filename*=UTF-8''%E5%AD`)).toBeUndefined();
    expect(fileNameFromDisposition(`attachment; filename="../../etc/passwd"`)).toBe("passwd");
    expect(fileNameFromDisposition(`attachment; filename="dir/"`)).toBeUndefined();
    expect(cleanFileName("a\u0000b\nc.txt")).toBe("abc.txt");
    expect(cleanFileName("x".repeat(400))?.length).toBe(255);
  });
});

describe("attachmentDisposition", () => {
  test("percent-encodes UTF-8 and RFC 8187's reserved characters; round-trips", () => {
    expect(attachmentDisposition("季度 报告(1).pdf")).toBe(
      "attachment; filename*=UTF-8''%E5%AD%A3%E5%BA%A6%20%E6%8A%A5%E5%91%8A%281%29.pdf",
    );
    const name = `it's "quoted"; a=b.txt`;
    expect(fileNameFromDisposition(attachmentDisposition(name))).toBe(name);
  });
});
