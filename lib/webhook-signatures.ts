// Signatures of webhooks: verifying what a sender posts to an inbound hook (POST /hooks/:id, which
// carries no API key, so the signature is the only proof of who sent it) and signing the
// notifications we send out (issue 16). Four schemes:
//
//   standard  Standard Webhooks (standardwebhooks.com): webhook-id, webhook-timestamp and
//             webhook-signature = space-separated "v1,<base64 HMAC-SHA256 of id.timestamp.body>",
//             keyed by the base64-decoded secret ("whsec_" prefix stripped); timestamps outside
//             ±tolerance are refused, so a captured delivery cannot be replayed later.
//   github    x-hub-signature-256: sha256=<hex HMAC-SHA256 of the body>, keyed by the secret's UTF-8.
//   hmac      any header (default x-signature), an optional prefix, then the hex (or base64)
//             HMAC-SHA256 of the body, keyed by the secret's UTF-8: what most other senders do.
//   bearer    Authorization: Bearer <secret>, for senders that sign nothing.
//
// An endpoint has one or two secrets (two while rotating: either verifies). Every comparison of
// something secret-derived is constant-time, and no message of this module holds a secret or an
// expected signature: a rejection's reason says which header was missing or malformed, never what
// it should have been.
//
// Standard Webhooks signing goes through the `standardwebhooks` package. Its verification reads
// the clock itself (Date.now, not injectable), so verification here checks the timestamp against
// `now` and computes the package's HMAC with node:crypto; api/test/webhook-signatures.test.ts
// proves the two computations equal.
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { Webhook } from "standardwebhooks";

export const VERIFY_SCHEMES = ["standard", "hmac", "github", "bearer"] as const;
export type VerifyScheme = (typeof VERIFY_SCHEMES)[number];

export interface VerifyConfig {
  scheme: VerifyScheme;
  /** 1 or 2 plaintext secrets (two during rotation); either may verify. */
  secrets: string[];
  /** hmac only: the header carrying the signature (default "x-signature"). */
  header?: string | null;
  /** hmac only: text before the digest, e.g. "sha256=" (default ""). */
  prefix?: string | null;
  /** standard only: how far webhook-timestamp may be from now, either way (default 300). */
  toleranceSeconds?: number;
}

/** node's req.headers (lower-case names). */
export type Headers = Record<string, string | string[] | undefined>;
export type Verified = { ok: true; secretIndex: number; webhookId: string | null };
/** `reason` says what was wrong without leaking secrets or expected signatures. */
export type Rejected = { ok: false; reason: string };

export const DEFAULT_TOLERANCE_SECONDS = 300;
export const DEFAULT_HMAC_HEADER = "x-signature";
export const MAX_SECRETS = 2;

const STANDARD_PREFIX = "whsec_";
const STANDARD_MIN_KEY_BYTES = 24;
const STANDARD_MAX_KEY_BYTES = 64;
const SECRET_BYTES = 32;
/** Plaintext secrets (hmac, github, bearer): long enough not to be guessed, short enough for a header. */
const PLAIN_MIN_LENGTH = 16;
const PLAIN_MAX_LENGTH = 512;
const DIGEST_BYTES = 32;

const GITHUB_SIGNATURE_HEADER = "x-hub-signature-256";
const GITHUB_DELIVERY_HEADER = "x-github-delivery";
/** An HTTP header name (RFC 9110 token). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$/;
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

/** The endpoint's configuration itself is unusable (not the delivery): answer 500, not 401, and fix the endpoint. */
export class WebhookConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WebhookConfigError";
  }
}

/**
 * Verifies one delivery: its headers and its raw body (the exact bytes received, before any
 * JSON parsing). `now` is the clock Standard Webhooks timestamps are checked against.
 * Throws WebhookConfigError when `cfg` is unusable (no secret, a malformed one, a bad header name).
 */
export function verifyDelivery(cfg: VerifyConfig, headers: Headers, rawBody: Buffer, now: Date = new Date()): Verified | Rejected {
  checkSecrets(cfg.scheme, cfg.secrets);
  switch (cfg.scheme) {
    case "standard":
      return verifyStandard(cfg.secrets.map(standardKey), toleranceOf(cfg), headers, rawBody, now);
    case "github":
      return verifyGithub(cfg.secrets, headers, rawBody);
    case "hmac":
      return verifyHmac(cfg, headers, rawBody);
    case "bearer":
      return verifyBearer(cfg.secrets, headers);
    default:
      throw new WebhookConfigError(`unknown verification scheme ${JSON.stringify(cfg.scheme)}: use one of ${VERIFY_SCHEMES.join(", ")}`);
  }
}

/** Standard Webhooks headers for an outbound message: webhook-id, webhook-timestamp, webhook-signature. */
export function signStandard(secret: string, msgId: string, timestamp: Date, body: string): Record<string, string> {
  const problem = secretFormatError("standard", secret);
  if (problem) throw new WebhookConfigError(problem);
  // The id travels in a header and is part of the signed text: printable ASCII, no spaces.
  if (!/^[\x21-\x7e]{1,256}$/.test(msgId)) throw new Error("a webhook message id is 1-256 printable ASCII characters without spaces");
  if (!Number.isFinite(timestamp.getTime())) throw new Error("a webhook message's timestamp must be a valid Date");
  return {
    "webhook-id": msgId,
    "webhook-timestamp": String(Math.floor(timestamp.getTime() / 1000)),
    "webhook-signature": new Webhook(secret).sign(msgId, timestamp, body),
  };
}

/**
 * Checks a secret is usable for the scheme; null, or a message saying what a secret must be.
 * standard: "whsec_" (optional) + canonical base64 of 24..64 bytes, as the package decodes it.
 * hmac, github: 16..512 characters, no control characters or surrounding spaces.
 * bearer: 16..512 printable ASCII characters without spaces (it travels in a header).
 */
export function secretFormatError(scheme: VerifyScheme, secret: string): string | null {
  if (typeof secret !== "string") return "a webhook secret is a string";
  switch (scheme) {
    case "standard":
      return standardSecretError(secret);
    case "hmac":
    case "github":
      if (secret.length < PLAIN_MIN_LENGTH || secret.length > PLAIN_MAX_LENGTH) {
        return `a ${scheme} webhook secret is ${PLAIN_MIN_LENGTH} to ${PLAIN_MAX_LENGTH} characters (got ${secret.length}); generate one with: openssl rand -hex 32`;
      }
      if (CONTROL_CHARACTERS.test(secret) || secret.trim() !== secret) {
        return `a ${scheme} webhook secret has no control characters and no leading or trailing spaces (a copy-paste slip?)`;
      }
      return null;
    case "bearer":
      if (!new RegExp(`^[\\x21-\\x7e]{${PLAIN_MIN_LENGTH},${PLAIN_MAX_LENGTH}}$`).test(secret)) {
        return `a bearer webhook secret is ${PLAIN_MIN_LENGTH} to ${PLAIN_MAX_LENGTH} printable ASCII characters without spaces; generate one with: openssl rand -hex 32`;
      }
      return null;
    default:
      return `unknown verification scheme ${JSON.stringify(scheme)}: use one of ${VERIFY_SCHEMES.join(", ")}`;
  }
}

/** A new random secret for the scheme (standard: whsec_ + base64 of 32 bytes; others: 32 random bytes hex). */
export function generateSecret(scheme: VerifyScheme): string {
  const bytes = randomBytes(SECRET_BYTES);
  return scheme === "standard" ? `${STANDARD_PREFIX}${bytes.toString("base64")}` : bytes.toString("hex");
}

// ---- configuration ----

function checkSecrets(scheme: VerifyScheme, secrets: string[]): void {
  if (!Array.isArray(secrets) || secrets.length === 0 || secrets.length > MAX_SECRETS) {
    throw new WebhookConfigError(`a webhook endpoint has 1 or ${MAX_SECRETS} secrets (two only while rotating)`);
  }
  secrets.forEach((secret, i) => {
    const problem = secretFormatError(scheme, secret);
    if (problem) throw new WebhookConfigError(`the endpoint's secret #${i + 1} is unusable: ${problem}`);
  });
}

function standardSecretError(secret: string): string | null {
  const help = `a Standard Webhooks secret is "${STANDARD_PREFIX}" followed by the base64 of ${STANDARD_MIN_KEY_BYTES} to ${STANDARD_MAX_KEY_BYTES} random bytes (make one with: echo ${STANDARD_PREFIX}$(openssl rand -base64 32))`;
  const text = stripStandardPrefix(secret);
  try {
    // The package's own rules first (its alphabet and padding), so that what we accept it accepts.
    new Webhook(secret);
  } catch {
    return help;
  }
  // Canonical base64 only: then node's decoder and the package's give the same key bytes.
  const key = Buffer.from(text, "base64");
  if (key.toString("base64") !== text) return help;
  if (key.length < STANDARD_MIN_KEY_BYTES || key.length > STANDARD_MAX_KEY_BYTES) return `${help}; this one is ${key.length} bytes`;
  return null;
}

function stripStandardPrefix(secret: string): string {
  return secret.startsWith(STANDARD_PREFIX) ? secret.slice(STANDARD_PREFIX.length) : secret;
}

/** The HMAC key of a (checked) Standard Webhooks secret. */
function standardKey(secret: string): Buffer {
  return Buffer.from(stripStandardPrefix(secret), "base64");
}

function toleranceOf(cfg: VerifyConfig): number {
  const tolerance = cfg.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  if (!Number.isFinite(tolerance) || tolerance < 0) {
    throw new WebhookConfigError(`toleranceSeconds is a number of seconds >= 0 (got ${tolerance}); the default is ${DEFAULT_TOLERANCE_SECONDS}`);
  }
  return tolerance;
}

// ---- headers ----

/** A header's non-empty values, by lower-case name (a caller's mixed-case names are found too). */
function headerValues(headers: Headers, name: string): string[] {
  let value = headers[name];
  if (value === undefined) {
    const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
    value = key === undefined ? undefined : headers[key];
  }
  const values = value === undefined ? [] : Array.isArray(value) ? value : [value];
  return values.map((v) => v.trim()).filter((v) => v !== "");
}

type OneHeader = { value: string } | Rejected;

/** A header that must appear once: its value, or why not. */
function oneHeader(headers: Headers, name: string, missingHelp: string): OneHeader {
  const values = headerValues(headers, name);
  if (values.length === 0) return reject(`missing ${name} header${missingHelp}`);
  if (values.length > 1) return reject(`more than one ${name} header: send it once`);
  return { value: values[0]! };
}

function reject(reason: string): Rejected {
  return { ok: false, reason };
}

// ---- comparisons ----

function hmacSha256(key: Buffer | string, ...parts: Buffer[]): Buffer {
  const mac = createHmac("sha256", key);
  for (const part of parts) mac.update(part);
  return mac.digest();
}

/** Constant-time equality of two byte strings; their lengths are public (a digest's size). */
function bytesEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The index of the first secret whose digest equals one of `given`, or -1; every pair is compared. */
function matchingSecret(expected: Buffer[], given: Buffer[]): number {
  let found = -1;
  expected.forEach((digest, i) => {
    let match = false;
    for (const g of given) match = bytesEqual(digest, g) || match;
    if (match && found < 0) found = i;
  });
  return found;
}

// ---- schemes ----

function verifyStandard(keys: Buffer[], tolerance: number, headers: Headers, body: Buffer, now: Date): Verified | Rejected {
  const nowMs = now.getTime();
  if (!Number.isFinite(nowMs)) throw new Error("verifyDelivery: now must be a valid Date");
  const help = " (a Standard Webhooks sender sends webhook-id, webhook-timestamp and webhook-signature)";
  const id = oneHeader(headers, "webhook-id", help);
  if (!("value" in id)) return id;
  const ts = oneHeader(headers, "webhook-timestamp", help);
  if (!("value" in ts)) return ts;
  const sigs = headerValues(headers, "webhook-signature");
  if (sigs.length === 0) return reject(`missing webhook-signature header${help}`);

  if (!/^\d{1,15}$/.test(ts.value)) return reject("webhook-timestamp is not whole seconds since 1970 (UTC)");
  const timestamp = Number(ts.value);
  const nowSeconds = Math.floor(nowMs / 1000);
  if (nowSeconds - timestamp > tolerance) {
    return reject(
      `timestamp too old: webhook-timestamp is ${nowSeconds - timestamp} s before this server's clock, more than the ${tolerance} s allowed (a replayed delivery, or the sender's clock is wrong)`,
    );
  }
  if (timestamp - nowSeconds > tolerance) {
    return reject(
      `timestamp too new: webhook-timestamp is ${timestamp - nowSeconds} s after this server's clock, more than the ${tolerance} s allowed (the sender's clock is wrong)`,
    );
  }

  // "v1,<base64>" entries, space-separated; other versions (v1a: asymmetric) are not ours to check.
  const given = sigs
    .flatMap((s) => s.split(/\s+/))
    .filter((s) => s.startsWith("v1,"))
    .map((s) => Buffer.from(s, "utf8"));
  if (given.length === 0) return reject("webhook-signature has no v1 signature (expected space-separated v1,<base64> entries)");

  // As the package signs: the parsed timestamp (not the header's text) between id and body, and
  // the signature compared as its "v1,<base64>" text.
  const signed = Buffer.from(`${id.value}.${timestamp}.`, "utf8");
  const expected = keys.map((key) => Buffer.from(`v1,${hmacSha256(key, signed, body).toString("base64")}`, "utf8"));
  const index = matchingSecret(expected, given);
  if (index < 0) {
    return reject("webhook-signature matches none of this endpoint's secrets (it must be v1,<base64 HMAC-SHA256 of webhook-id.webhook-timestamp.body>)");
  }
  return { ok: true, secretIndex: index, webhookId: id.value };
}

function verifyGithub(secrets: string[], headers: Headers, body: Buffer): Verified | Rejected {
  const sig = oneHeader(headers, GITHUB_SIGNATURE_HEADER, " (GitHub sends it when the webhook has a secret; the SHA-1 x-hub-signature is not accepted)");
  if (!("value" in sig)) return sig;
  const m = /^sha256=([0-9a-fA-F]{64})$/.exec(sig.value);
  if (!m) return reject(`${GITHUB_SIGNATURE_HEADER} is not sha256=<64 hex digits>`);
  const index = matchingSecret(
    secrets.map((s) => hmacSha256(s, body)),
    [Buffer.from(m[1]!, "hex")],
  );
  if (index < 0) return reject(`${GITHUB_SIGNATURE_HEADER} matches none of this endpoint's secrets (is the webhook's secret in GitHub the same?)`);
  const delivery = headerValues(headers, GITHUB_DELIVERY_HEADER);
  return { ok: true, secretIndex: index, webhookId: delivery.length === 1 ? delivery[0]! : null };
}

function verifyHmac(cfg: VerifyConfig, headers: Headers, body: Buffer): Verified | Rejected {
  const header = (cfg.header ?? DEFAULT_HMAC_HEADER).toLowerCase();
  if (!HEADER_NAME.test(header)) throw new WebhookConfigError(`the endpoint's signature header ${JSON.stringify(cfg.header)} is not an HTTP header name`);
  const prefix = cfg.prefix ?? "";
  if (prefix.length > 64 || CONTROL_CHARACTERS.test(prefix))
    throw new WebhookConfigError("the endpoint's signature prefix is at most 64 characters without control characters");

  const sig = oneHeader(headers, header, "");
  if (!("value" in sig)) return sig;
  const shape = `${prefix}<hex or base64 HMAC-SHA256 of the body>`;
  // Senders differ in the case of their prefix ("sha256=" / "SHA256="); it proves nothing anyway.
  if (sig.value.slice(0, prefix.length).toLowerCase() !== prefix.toLowerCase())
    return reject(`${header} does not start with ${JSON.stringify(prefix)}: expected ${shape}`);
  const digest = decodeDigest(sig.value.slice(prefix.length).trim());
  if (!digest) return reject(`${header} is not ${shape}`);
  const index = matchingSecret(
    cfg.secrets.map((s) => hmacSha256(s, body)),
    [digest],
  );
  if (index < 0) return reject(`${header} matches none of this endpoint's secrets (it must be ${shape})`);
  return { ok: true, secretIndex: index, webhookId: null };
}

/** A SHA-256 digest written as 64 hex digits or as base64 / base64url of its 32 bytes; null otherwise. */
function decodeDigest(text: string): Buffer | null {
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, "hex");
  if (/^[A-Za-z0-9+/]{43}=?$/.test(text) || /^[A-Za-z0-9_-]{43}=?$/.test(text)) {
    const bytes = Buffer.from(text.replace(/=$/, ""), text.includes("-") || text.includes("_") ? "base64url" : "base64");
    return bytes.length === DIGEST_BYTES ? bytes : null;
  }
  return null;
}

function verifyBearer(secrets: string[], headers: Headers): Verified | Rejected {
  const auth = oneHeader(headers, "authorization", " (expected Authorization: Bearer <secret>)");
  if (!("value" in auth)) return auth;
  const m = /^Bearer\s+(\S+)$/i.exec(auth.value);
  if (!m) return reject("authorization is not Bearer <secret>");
  // Hashing both sides first makes the comparison constant-time whatever the token's length.
  const sha = (s: string) => createHash("sha256").update(s, "utf8").digest();
  const index = matchingSecret(secrets.map(sha), [sha(m[1]!)]);
  if (index < 0) return reject("the bearer token matches none of this endpoint's secrets");
  return { ok: true, secretIndex: index, webhookId: null };
}
