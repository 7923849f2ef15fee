// Webhook signatures (lib/webhook-signatures.ts) against the signers senders really use: the
// standardwebhooks package's own Webhook.sign and verify, and node:crypto as GitHub documents
// its X-Hub-Signature-256. No database: pure computation.
import { createHmac, randomBytes } from "node:crypto";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import {
  generateSecret,
  secretFormatError,
  signStandard,
  verifyDelivery,
  WebhookConfigError,
  type Headers,
  type Rejected,
  type VerifyConfig,
} from "../../lib/webhook-signatures.ts";

const NOW = new Date("2025-06-01T12:00:00Z");
const body = Buffer.from(JSON.stringify({ event: "push", text: "héllo ✓" }), "utf8");

/** The headers a Standard Webhooks sender sends, signed by the package itself. */
function packageSigned(secret: string, payload: Buffer | string, at: Date, msgId = "msg_2abc"): Headers {
  return {
    "webhook-id": msgId,
    "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
    "webhook-signature": new Webhook(secret).sign(msgId, at, payload),
  };
}

/** GitHub's documented signer: HMAC-SHA256 of the body under the secret, hex, "sha256=" in front. */
function githubSigned(secret: string, payload: Buffer): Headers {
  return {
    "x-hub-signature-256": `sha256=${createHmac("sha256", secret).update(payload).digest("hex")}`,
    "x-github-delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
    "x-github-event": "push",
  };
}

function hmacHex(secret: string, payload: Buffer): string {
  return createHmac("sha256", secret).update(payload).digest("hex");
}

function rejected(result: ReturnType<typeof verifyDelivery>): Rejected {
  expect(result.ok).toBe(false);
  return result as Rejected;
}

/** A reason never carries a secret, nor the signature that was expected. */
function expectNoLeak(reason: string, secrets: string[], expected: string[] = []): void {
  for (const s of [...secrets, ...expected]) expect(reason).not.toContain(s);
  for (const s of secrets) expect(reason).not.toContain(s.replace(/^whsec_/, ""));
}

describe("standard (Standard Webhooks)", () => {
  const secret = generateSecret("standard");
  const cfg: VerifyConfig = { scheme: "standard", secrets: [secret] };

  it("accepts what the package's Webhook.sign signs, and reports the webhook id", () => {
    expect(verifyDelivery(cfg, packageSigned(secret, body, NOW), body, NOW)).toEqual({ ok: true, secretIndex: 0, webhookId: "msg_2abc" });
    // with the default clock, as the route calls it
    expect(verifyDelivery(cfg, packageSigned(secret, body, new Date()), body).ok).toBe(true);
  });

  it("computes exactly the package's signature (secrets of every accepted size, any body)", () => {
    const secrets = [secret, `whsec_${randomBytes(24).toString("base64")}`, randomBytes(64).toString("base64"), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"];
    const bodies = [body, Buffer.alloc(0), randomBytes(1000), Buffer.from("a.b.c", "utf8")];
    for (const s of secrets) {
      expect(secretFormatError("standard", s)).toBeNull();
      for (const b of bodies) {
        const at = new Date(NOW.getTime() + Math.floor(Math.random() * 100_000));
        expect(verifyDelivery({ scheme: "standard", secrets: [s] }, packageSigned(s, b, at, "msg_x.y"), b, at)).toMatchObject({ ok: true, secretIndex: 0 });
      }
    }
  });

  it("accepts a matching signature among several (space-separated, other versions ignored)", () => {
    const h = packageSigned(secret, body, NOW);
    const other = new Webhook(generateSecret("standard")).sign("msg_2abc", NOW, body);
    h["webhook-signature"] = `v1a,bm90IGEgcmVhbCBzaWduYXR1cmU= ${other} ${h["webhook-signature"] as string}`;
    expect(verifyDelivery(cfg, h, body, NOW).ok).toBe(true);
  });

  it("finds headers whatever the case of their names", () => {
    const h = packageSigned(secret, body, NOW);
    const mixed = { "Webhook-Id": h["webhook-id"], "WEBHOOK-TIMESTAMP": h["webhook-timestamp"], "Webhook-Signature": h["webhook-signature"] };
    expect(verifyDelivery(cfg, mixed, body, NOW).ok).toBe(true);
  });

  it("rejects a tampered body, a changed id and a changed timestamp", () => {
    const h = packageSigned(secret, body, NOW);
    const tampered = Buffer.from(body.toString("utf8").replace("push", "pull"), "utf8");
    const r = rejected(verifyDelivery(cfg, h, tampered, NOW));
    expect(r.reason).toMatch(/webhook-signature matches none/);
    expectNoLeak(r.reason, [secret], [h["webhook-signature"] as string, new Webhook(secret).sign("msg_2abc", NOW, tampered)]);
    expect(verifyDelivery(cfg, { ...h, "webhook-id": "msg_other" }, body, NOW).ok).toBe(false);
    expect(verifyDelivery(cfg, { ...h, "webhook-timestamp": String(Number(h["webhook-timestamp"]) + 1) }, body, NOW).ok).toBe(false);
  });

  it("rejects the wrong secret", () => {
    const wrong = generateSecret("standard");
    const r = rejected(verifyDelivery(cfg, packageSigned(wrong, body, NOW), body, NOW));
    expect(r.reason).toMatch(/matches none of this endpoint's secrets/);
    expectNoLeak(r.reason, [secret, wrong]);
  });

  it("rejects a timestamp 6 minutes old or in the future, and honours toleranceSeconds", () => {
    const old = new Date(NOW.getTime() - 6 * 60_000);
    expect(rejected(verifyDelivery(cfg, packageSigned(secret, body, old), body, NOW)).reason).toMatch(/timestamp too old/);
    const future = new Date(NOW.getTime() + 6 * 60_000);
    expect(rejected(verifyDelivery(cfg, packageSigned(secret, body, future), body, NOW)).reason).toMatch(/timestamp too new/);
    // within the default 300 s either way
    expect(verifyDelivery(cfg, packageSigned(secret, body, new Date(NOW.getTime() - 299_000)), body, NOW).ok).toBe(true);
    expect(verifyDelivery(cfg, packageSigned(secret, body, new Date(NOW.getTime() + 299_000)), body, NOW).ok).toBe(true);
    const wide = { ...cfg, toleranceSeconds: 600 };
    expect(verifyDelivery(wide, packageSigned(secret, body, old), body, NOW).ok).toBe(true);
    const narrow = { ...cfg, toleranceSeconds: 10 };
    expect(verifyDelivery(narrow, packageSigned(secret, body, new Date(NOW.getTime() - 11_000)), body, NOW).ok).toBe(false);
  });

  it("agrees with the package's own clock check", () => {
    // The package refuses the same 6-minute-old delivery against the real clock.
    const old = new Date(Date.now() - 6 * 60_000);
    const h = packageSigned(secret, body, old) as Record<string, string>;
    expect(() => new Webhook(secret).verify(body, h)).toThrow(/too old/);
    expect(rejected(verifyDelivery(cfg, h, body)).reason).toMatch(/timestamp too old/);
  });

  it("names the missing or malformed header", () => {
    const h = packageSigned(secret, body, NOW);
    for (const name of ["webhook-id", "webhook-timestamp", "webhook-signature"]) {
      const without = { ...h, [name]: undefined };
      expect(rejected(verifyDelivery(cfg, without, body, NOW)).reason).toContain(`missing ${name} header`);
      expect(rejected(verifyDelivery(cfg, { ...h, [name]: "  " }, body, NOW)).reason).toContain(`missing ${name} header`);
    }
    expect(rejected(verifyDelivery(cfg, { ...h, "webhook-timestamp": "soon" }, body, NOW)).reason).toMatch(/webhook-timestamp is not whole seconds/);
    expect(rejected(verifyDelivery(cfg, { ...h, "webhook-signature": "v2,abc" }, body, NOW)).reason).toMatch(/no v1 signature/);
    expect(rejected(verifyDelivery(cfg, { ...h, "webhook-id": ["a", "b"] }, body, NOW)).reason).toMatch(/more than one webhook-id/);
  });

  it("accepts either secret during rotation and says which one verified", () => {
    const oldSecret = generateSecret("standard");
    const newSecret = generateSecret("standard");
    const rotating: VerifyConfig = { scheme: "standard", secrets: [newSecret, oldSecret] };
    expect(verifyDelivery(rotating, packageSigned(oldSecret, body, NOW), body, NOW)).toMatchObject({ ok: true, secretIndex: 1 });
    expect(verifyDelivery(rotating, packageSigned(newSecret, body, NOW), body, NOW)).toMatchObject({ ok: true, secretIndex: 0 });
    expect(verifyDelivery(rotating, packageSigned(generateSecret("standard"), body, NOW), body, NOW).ok).toBe(false);
  });

  it("signStandard's headers pass the package's Webhook.verify (and ours)", () => {
    const text = body.toString("utf8");
    const at = new Date();
    const h = signStandard(secret, "msg_out_1", at, text);
    expect(Object.keys(h).sort()).toEqual(["webhook-id", "webhook-signature", "webhook-timestamp"]);
    expect(h["webhook-id"]).toBe("msg_out_1");
    expect(h["webhook-timestamp"]).toBe(String(Math.floor(at.getTime() / 1000)));
    expect(new Webhook(secret).verify(text, h)).toEqual(JSON.parse(text));
    expect(() => new Webhook(generateSecret("standard")).verify(text, h)).toThrow(/No matching signature/);
    expect(verifyDelivery(cfg, h, Buffer.from(text, "utf8"), at)).toEqual({ ok: true, secretIndex: 0, webhookId: "msg_out_1" });
    expect(() => signStandard("not a secret", "msg_1", at, text)).toThrow(WebhookConfigError);
    expect(() => signStandard(secret, "has space", at, text)).toThrow(/message id/);
    expect(() => signStandard(secret, "msg_1", new Date("nope"), text)).toThrow(/timestamp/);
  });
});

describe("github", () => {
  const secret = generateSecret("github");
  const cfg: VerifyConfig = { scheme: "github", secrets: [secret] };

  it("accepts GitHub's documented signature and reports X-GitHub-Delivery", () => {
    expect(verifyDelivery(cfg, githubSigned(secret, body), body)).toEqual({ ok: true, secretIndex: 0, webhookId: "72d3162e-cc78-11e3-81ab-4c9367dc0958" });
    const noDelivery = { ...githubSigned(secret, body), "x-github-delivery": undefined };
    expect(verifyDelivery(cfg, noDelivery, body)).toEqual({ ok: true, secretIndex: 0, webhookId: null });
    // GitHub's own test vector (docs: "Validating webhook deliveries")
    const vector: VerifyConfig = { scheme: "github", secrets: ["It's a Secret to Everybody"] };
    const h = { "x-hub-signature-256": "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17" };
    expect(verifyDelivery(vector, h, Buffer.from("Hello, World!"))).toMatchObject({ ok: true });
  });

  it("rejects a tampered body, the wrong secret, a missing or malformed header", () => {
    const h = githubSigned(secret, body);
    const tampered = Buffer.concat([body, Buffer.from(" ")]);
    const r = rejected(verifyDelivery(cfg, h, tampered));
    expect(r.reason).toMatch(/x-hub-signature-256 matches none/);
    expectNoLeak(r.reason, [secret], [hmacHex(secret, tampered)]);
    expect(verifyDelivery(cfg, githubSigned(generateSecret("github"), body), body).ok).toBe(false);
    expect(rejected(verifyDelivery(cfg, { "x-github-delivery": "x" }, body)).reason).toContain("missing x-hub-signature-256 header");
    expect(rejected(verifyDelivery(cfg, { "x-hub-signature-256": hmacHex(secret, body) }, body)).reason).toMatch(/not sha256=<64 hex digits>/);
  });

  it("accepts either secret during rotation", () => {
    const next = generateSecret("github");
    const rotating: VerifyConfig = { scheme: "github", secrets: [secret, next] };
    expect(verifyDelivery(rotating, githubSigned(secret, body), body)).toMatchObject({ ok: true, secretIndex: 0 });
    expect(verifyDelivery(rotating, githubSigned(next, body), body)).toMatchObject({ ok: true, secretIndex: 1 });
  });
});

describe("hmac", () => {
  const secret = generateSecret("hmac");

  it("accepts hex under the default x-signature header, with no prefix", () => {
    const cfg: VerifyConfig = { scheme: "hmac", secrets: [secret] };
    expect(verifyDelivery(cfg, { "x-signature": hmacHex(secret, body) }, body)).toEqual({ ok: true, secretIndex: 0, webhookId: null });
    expect(verifyDelivery(cfg, { "x-signature": hmacHex(secret, body).toUpperCase() }, body).ok).toBe(true);
    expect(rejected(verifyDelivery(cfg, {}, body)).reason).toContain("missing x-signature header");
  });

  it("accepts a configured header and prefix, hex or base64", () => {
    const cfg: VerifyConfig = { scheme: "hmac", secrets: [secret], header: "X-Shop-Hmac-Sha256", prefix: "sha256=" };
    const mac = createHmac("sha256", secret).update(body).digest();
    expect(verifyDelivery(cfg, { "x-shop-hmac-sha256": `sha256=${mac.toString("hex")}` }, body).ok).toBe(true);
    expect(verifyDelivery(cfg, { "x-shop-hmac-sha256": `sha256=${mac.toString("base64")}` }, body).ok).toBe(true);
    expect(verifyDelivery(cfg, { "x-shop-hmac-sha256": `sha256=${mac.toString("base64url")}` }, body).ok).toBe(true);
    // the prefix is required
    expect(rejected(verifyDelivery(cfg, { "x-shop-hmac-sha256": mac.toString("hex") }, body)).reason).toMatch(/does not start with "sha256="/);
    // neither hex nor 32 bytes of base64
    expect(rejected(verifyDelivery(cfg, { "x-shop-hmac-sha256": "sha256=abc" }, body)).reason).toMatch(/is not sha256=<hex or base64/);
    expect(rejected(verifyDelivery(cfg, {}, body)).reason).toContain("missing x-shop-hmac-sha256 header");
  });

  it("rejects a tampered body and the wrong secret without leaking either signature", () => {
    const cfg: VerifyConfig = { scheme: "hmac", secrets: [secret], prefix: "sha256=" };
    const tampered = Buffer.from("{}");
    const r = rejected(verifyDelivery(cfg, { "x-signature": `sha256=${hmacHex(secret, body)}` }, tampered));
    expect(r.reason).toMatch(/x-signature matches none/);
    expectNoLeak(r.reason, [secret], [hmacHex(secret, body), hmacHex(secret, tampered)]);
    const wrong = generateSecret("hmac");
    expect(verifyDelivery(cfg, { "x-signature": `sha256=${hmacHex(wrong, body)}` }, body).ok).toBe(false);
  });

  it("accepts either secret during rotation", () => {
    const next = generateSecret("hmac");
    const cfg: VerifyConfig = { scheme: "hmac", secrets: [secret, next] };
    expect(verifyDelivery(cfg, { "x-signature": hmacHex(next, body) }, body)).toMatchObject({ ok: true, secretIndex: 1 });
    expect(verifyDelivery(cfg, { "x-signature": hmacHex(secret, body) }, body)).toMatchObject({ ok: true, secretIndex: 0 });
  });

  it("refuses an unusable header name as a configuration error", () => {
    expect(() => verifyDelivery({ scheme: "hmac", secrets: [secret], header: "x signature" }, {}, body)).toThrow(WebhookConfigError);
  });
});

describe("bearer", () => {
  const secret = generateSecret("bearer");
  const cfg: VerifyConfig = { scheme: "bearer", secrets: [secret] };

  it("accepts the right token and rejects a wrong one", () => {
    expect(verifyDelivery(cfg, { authorization: `Bearer ${secret}` }, body)).toEqual({ ok: true, secretIndex: 0, webhookId: null });
    expect(verifyDelivery(cfg, { authorization: `bearer ${secret}` }, body).ok).toBe(true);
    for (const token of [generateSecret("bearer"), secret.slice(0, -1), `${secret}x`, "x"]) {
      const r = rejected(verifyDelivery(cfg, { authorization: `Bearer ${token}` }, body));
      expect(r.reason).toMatch(/bearer token matches none/);
      expectNoLeak(r.reason, [secret]);
    }
  });

  it("names a missing or malformed authorization header", () => {
    expect(rejected(verifyDelivery(cfg, {}, body)).reason).toContain("missing authorization header");
    expect(rejected(verifyDelivery(cfg, { authorization: `Basic ${secret}` }, body)).reason).toMatch(/authorization is not Bearer <secret>/);
    expect(rejected(verifyDelivery(cfg, { authorization: `Basic ${secret}` }, body)).reason).not.toContain(secret);
  });

  it("accepts either secret during rotation", () => {
    const next = generateSecret("bearer");
    const rotating: VerifyConfig = { scheme: "bearer", secrets: [secret, next] };
    expect(verifyDelivery(rotating, { authorization: `Bearer ${next}` }, body)).toMatchObject({ ok: true, secretIndex: 1 });
    expect(verifyDelivery(rotating, { authorization: `Bearer ${secret}` }, body)).toMatchObject({ ok: true, secretIndex: 0 });
  });
});

describe("secrets", () => {
  it("generates secrets each scheme accepts, different every time", () => {
    for (const scheme of ["standard", "hmac", "github", "bearer"] as const) {
      const a = generateSecret(scheme);
      expect(secretFormatError(scheme, a)).toBeNull();
      expect(generateSecret(scheme)).not.toBe(a);
    }
    expect(generateSecret("standard")).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(generateSecret("hmac")).toMatch(/^[0-9a-f]{64}$/);
  });

  it("checks a Standard Webhooks secret's format and size", () => {
    expect(secretFormatError("standard", `whsec_${randomBytes(24).toString("base64")}`)).toBeNull();
    expect(secretFormatError("standard", randomBytes(32).toString("base64"))).toBeNull();
    expect(secretFormatError("standard", `whsec_${randomBytes(64).toString("base64")}`)).toBeNull();
    expect(secretFormatError("standard", `whsec_${randomBytes(16).toString("base64")}`)).toMatch(/24 to 64 random bytes.*this one is 16 bytes/);
    expect(secretFormatError("standard", `whsec_${randomBytes(65).toString("base64")}`)).toMatch(/this one is 65 bytes/);
    expect(secretFormatError("standard", "whsec_")).toMatch(/whsec_/);
    expect(secretFormatError("standard", "whsec_not base64 at all!!")).toMatch(/base64/);
    expect(secretFormatError("standard", "whsec_" + randomBytes(32).toString("base64url"))).not.toBeNull();
  });

  it("checks plaintext secrets", () => {
    expect(secretFormatError("github", "short")).toMatch(/16 to 512 characters/);
    expect(secretFormatError("github", " a secret with spaces around ")).toMatch(/leading or trailing spaces/);
    expect(secretFormatError("hmac", "a\nsecret with a newline")).toMatch(/control characters/);
    expect(secretFormatError("hmac", "a perfectly fine passphrase")).toBeNull();
    expect(secretFormatError("bearer", "a token with spaces in it")).toMatch(/without spaces/);
  });

  it("refuses an endpoint without a usable secret as a configuration error, without the secret in the message", () => {
    expect(() => verifyDelivery({ scheme: "bearer", secrets: [] }, {}, body)).toThrow(/1 or 2 secrets/);
    const three = [generateSecret("hmac"), generateSecret("hmac"), generateSecret("hmac")];
    expect(() => verifyDelivery({ scheme: "hmac", secrets: three }, {}, body)).toThrow(WebhookConfigError);
    const bad = "tooshort";
    let message = "";
    try {
      verifyDelivery({ scheme: "github", secrets: [generateSecret("github"), bad] }, {}, body);
    } catch (e) {
      expect(e).toBeInstanceOf(WebhookConfigError);
      message = (e as Error).message;
    }
    expect(message).toMatch(/secret #2 is unusable/);
    expect(message).not.toContain(bad);
    expect(() => verifyDelivery({ scheme: "standard", secrets: [generateSecret("standard")], toleranceSeconds: -1 }, {}, body)).toThrow(/toleranceSeconds/);
  });
});
