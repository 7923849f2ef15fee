// Encryption at rest of a workspace's secrets (everruns.secrets, 000004_secrets.sql): AES-256-GCM
// under EVERRUNS_SECRET_KEY. The API seals a value when it is set; only workers open it, at step
// time. A sealed value is
//
//   version (1 byte, 0x01) | nonce (12 bytes, random) | tag (16 bytes) | ciphertext
//
// with additional authenticated data "everruns.secret.v1\0<workspace id>\0<name>": a ciphertext
// copied onto another secret's row, or into another workspace, does not open. A wrong key, a
// changed byte or another name all fail the same way (SecretOpenError), and no message of this
// module ever holds a value or a key.
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { z } from "zod";

export const SECRET_KEY_ENV = "EVERRUNS_SECRET_KEY";

const VERSION = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + NONCE_BYTES + TAG_BYTES;
const KEY_BYTES = 32;

/** A secret's name: what agent configs reference and the CLI and API take. */
export const SECRET_NAME_PATTERN = /^[A-Za-z0-9_.-]{1,100}$/;
export const SecretNameSchema = z.string().regex(SECRET_NAME_PATTERN, "a secret's name is 1-100 letters, digits, _, . or -");

/** Values shorter than this have no last4 shown (4 characters would give away too much of them). */
export const LAST4_MIN_LENGTH = 12;
export const MAX_SECRET_BYTES = 64 * 1024;

/** EVERRUNS_SECRET_KEY missing or malformed. The message names the variable, never its value. */
export class SecretKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SecretKeyError";
  }
}

/** A sealed value that does not open: wrong key, tampered, or sealed for another workspace or name. */
export class SecretOpenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SecretOpenError";
  }
}

function decodeKey(text: string): Buffer | undefined {
  const t = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) return Buffer.from(t, "hex");
  if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(t)) {
    const bytes = Buffer.from(t, t.includes("-") || t.includes("_") ? "base64url" : "base64");
    return bytes.length === KEY_BYTES ? bytes : undefined;
  }
  return undefined;
}

const KEY_HELP = `${SECRET_KEY_ENV} must be 32 bytes written as 64 hex digits or in base64 (make one with: openssl rand -base64 32)`;

/** EVERRUNS_SECRET_KEY as read from the environment: a 32-byte key, or absent. */
export const SecretKeyEnvSchema = z
  .string()
  .optional()
  .transform((text, ctx) => {
    if (text === undefined || text.trim() === "") return undefined;
    const key = decodeKey(text);
    if (!key) {
      ctx.addIssue({ code: "custom", message: KEY_HELP });
      return z.NEVER;
    }
    return key;
  });

/** The key from `env` (EVERRUNS_SECRET_KEY), undefined when unset; a malformed one throws SecretKeyError. */
export function secretKeyFromEnv(env: Record<string, string | undefined> = process.env): Buffer | undefined {
  const parsed = SecretKeyEnvSchema.safeParse(env[SECRET_KEY_ENV]);
  if (!parsed.success) throw new SecretKeyError(KEY_HELP);
  return parsed.data;
}

/** The key from `env`, or a SecretKeyError saying that `who` needs EVERRUNS_SECRET_KEY. */
export function requireSecretKey(env: Record<string, string | undefined> = process.env, who = "this process"): Buffer {
  const key = secretKeyFromEnv(env);
  if (key) return key;
  throw new SecretKeyError(
    `${SECRET_KEY_ENV} is not set: ${who} needs it to encrypt or decrypt secrets. ` +
      `Set it to the same 32-byte key (openssl rand -base64 32) on the API and every worker`,
  );
}

/** A fresh key, as EVERRUNS_SECRET_KEY holds it (base64). */
export function generateSecretKey(): string {
  return randomBytes(KEY_BYTES).toString("base64");
}

/** Where a sealed value belongs: it opens only for the same workspace and name. */
export interface SecretPlace {
  workspaceId: string;
  name: string;
}

function aad(place: SecretPlace): Buffer {
  return Buffer.from(`everruns.secret.v${VERSION}\0${place.workspaceId.toLowerCase()}\0${place.name}`, "utf8");
}

function checkKey(key: Buffer): void {
  if (key.length !== KEY_BYTES) throw new SecretKeyError(`a secret key is ${KEY_BYTES} bytes (got ${key.length})`);
}

/** Encrypts `value` for `place` under `key`. */
export function sealSecret(key: Buffer, value: string, place: SecretPlace): Buffer {
  checkKey(key);
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad(place));
  const body = Buffer.concat([cipher.update(value, "utf8"), cipher.final()]);
  return Buffer.concat([Buffer.from([VERSION]), nonce, cipher.getAuthTag(), body]);
}

/** Decrypts a sealed value of `place`; SecretOpenError (naming the secret, nothing else) when it does not open. */
export function openSecret(key: Buffer, sealed: Uint8Array, place: SecretPlace): string {
  checkKey(key);
  const data = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  const what = `secret "${place.name}"`;
  if (data.length < HEADER_BYTES) throw new SecretOpenError(`${what} is not a sealed value (too short)`);
  if (data[0] !== VERSION) throw new SecretOpenError(`${what} is sealed in an unknown format (version ${data[0]})`);
  const nonce = data.subarray(1, 1 + NONCE_BYTES);
  const tag = data.subarray(1 + NONCE_BYTES, HEADER_BYTES);
  const decipher = createDecipheriv("aes-256-gcm", key, nonce, { authTagLength: TAG_BYTES });
  decipher.setAAD(aad(place));
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(data.subarray(HEADER_BYTES)), decipher.final()]).toString("utf8");
  } catch {
    throw new SecretOpenError(
      `${what} does not decrypt: ${SECRET_KEY_ENV} differs from the key it was set with, or the stored value was altered or moved; set it again`,
    );
  }
}

/** What may be shown of a value: its last 4 characters, or null when the value is too short to show any. */
export function lastFour(value: string): string | null {
  const chars = [...value];
  return chars.length >= LAST4_MIN_LENGTH ? chars.slice(-4).join("") : null;
}

/** A value fit to store: not empty, at most 64 KiB. The message never holds the value. */
export function secretValueProblem(value: string): string | undefined {
  if (value.length === 0) return "a secret's value must not be empty";
  if (Buffer.byteLength(value, "utf8") > MAX_SECRET_BYTES) return `a secret's value must be at most ${MAX_SECRET_BYTES} bytes`;
  return undefined;
}
