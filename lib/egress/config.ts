// What the operator lets the worker reach on a tenant's behalf, and which of the worker's
// environment variables an agent may name: EVERRUNS_EGRESS_ALLOW and EVERRUNS_PROVIDER_KEY_ENVS
// (README, Configuration). Light to import (zod and ipaddr.js only): db/env.ts validates both
// at start with the schemas here, and the egress guard (lib/egress/guard.ts) and the
// providers read them through `egressAllowFromEnv` and `providerKeyEnvsFromEnv`.
import ipaddr from "ipaddr.js";
import { z } from "zod";

export const EGRESS_ALLOW_ENV = "EVERRUNS_EGRESS_ALLOW";
export const PROVIDER_KEY_ENVS_ENV = "EVERRUNS_PROVIDER_KEY_ENVS";

type Address = ipaddr.IPv4 | ipaddr.IPv6;

/** Why an address is refused, for people: "loopback", "private (RFC 1918)". */
export type AddressKind = string;

const KIND_NAMES: Record<string, string> = {
  unspecified: "unspecified",
  broadcast: "broadcast",
  multicast: "multicast",
  linkLocal: "link-local (and cloud metadata)",
  loopback: "loopback",
  carrierGradeNat: "carrier-grade NAT (100.64.0.0/10)",
  private: "private (RFC 1918)",
  uniqueLocal: "unique local IPv6 (fc00::/7)",
  deprecatedSiteLocal: "site-local IPv6",
  reserved: "reserved",
};

/** An address as ipaddr.js reads it, IPv4-mapped IPv6 forms turned into IPv4; undefined when not an IP. */
export function parseAddress(text: string): Address | undefined {
  const bare = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  // ipaddr.isValid accepts forms such as "0x7f.1" and "127.1"; only the usual notations count here.
  if (!ipaddr.IPv4.isValidFourPartDecimal(bare) && !(bare.includes(":") && ipaddr.IPv6.isValid(bare))) return undefined;
  return ipaddr.process(bare);
}

/** The IPv4 address an IPv6 one carries (IPv4-compatible ::a.b.c.d, NAT64 64:ff9b::/96, 6to4), if any. */
function embeddedIPv4(address: ipaddr.IPv6): ipaddr.IPv4 | undefined {
  const p = address.parts;
  const v4 = (hi: number, lo: number) => new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);
  if (p.slice(0, 6).every((x) => x === 0) && (p[6] !== 0 || (p[7] ?? 0) > 1)) return v4(p[6]!, p[7]!); // ::a.b.c.d
  if (address.match(ipaddr.IPv6.parse("64:ff9b::"), 96)) return v4(p[6]!, p[7]!);
  if (p[0] === 0x2002) return v4(p[1]!, p[2]!);
  return undefined;
}

/**
 * Why an address must not be reached unless the operator allowed it (loopback, private, link-local
 * and metadata, CGNAT, unspecified, broadcast, multicast, reserved, IPv6 unique local, and the
 * IPv6 forms that carry such an IPv4 address), or undefined for a public unicast address.
 */
export function refusedKind(address: Address): AddressKind | undefined {
  if (address.kind() === "ipv6") {
    const embedded = embeddedIPv4(address as ipaddr.IPv6);
    if (embedded) return refusedKind(embedded);
  }
  const range = address.range();
  if (range === "unicast") return undefined;
  return KIND_NAMES[range] ?? `reserved (${range})`;
}

const HOST_NAME = /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

/** The hosts, addresses and ranges the operator allows even when private or loopback. */
export class EgressAllowList {
  readonly hosts: ReadonlySet<string>;
  readonly ranges: ReadonlyArray<[Address, number]>;
  readonly entries: readonly string[];

  constructor(hosts: Iterable<string>, ranges: Iterable<[Address, number]>, entries: readonly string[] = []) {
    this.hosts = new Set([...hosts].map(normaliseHost));
    this.ranges = [...ranges];
    this.entries = entries;
  }

  static readonly empty = new EgressAllowList([], []);

  /** Parses "host,127.0.0.1,10.0.0.0/8,::1,fd00::/8"; throws naming the bad entry. */
  static parse(text: string | undefined, variable = EGRESS_ALLOW_ENV): EgressAllowList {
    const hosts: string[] = [];
    const ranges: Array<[Address, number]> = [];
    const entries = (text ?? "")
      .split(",")
      .map((e) => e.trim())
      .filter(Boolean);
    for (const entry of entries) {
      const range = parseRange(entry);
      if (range) {
        ranges.push(range);
        continue;
      }
      const host = normaliseHost(entry);
      if (!HOST_NAME.test(host) || /^[\d.]+$/.test(host)) {
        throw new Error(`${variable} has an invalid entry "${entry}": expected a host name, an IP address or a CIDR range (10.0.0.0/8, fd00::/8)`);
      }
      hosts.push(host);
    }
    return new EgressAllowList(hosts, ranges, entries);
  }

  /** Whether the operator listed this address (an IP or a range that holds it). */
  allowsAddress(address: Address): boolean {
    const a = normalise(address);
    return this.ranges.some(([base, bits]) => base.kind() === a.kind() && a.match(base, bits));
  }

  /**
   * Whether the operator listed this host: its name, or (for an IP literal) an IP or range that
   * holds it. A name resolving to a listed address is not a listed host.
   */
  allowsHost(hostname: string): boolean {
    const address = parseAddress(hostname);
    if (address) return this.allowsAddress(address);
    return this.hosts.has(normaliseHost(hostname));
  }
}

function normaliseHost(host: string): string {
  return host.toLowerCase().replace(/\.$/, "");
}

function normalise(address: Address): Address {
  return address.kind() === "ipv6" && (address as ipaddr.IPv6).isIPv4MappedAddress() ? (address as ipaddr.IPv6).toIPv4Address() : address;
}

function parseRange(entry: string): [Address, number] | undefined {
  const slash = entry.indexOf("/");
  if (slash < 0) {
    const address = parseAddress(entry);
    return address ? [address, address.kind() === "ipv4" ? 32 : 128] : undefined;
  }
  const base = parseAddress(entry.slice(0, slash));
  const bitsText = entry.slice(slash + 1);
  if (!base || !/^\d{1,3}$/.test(bitsText)) return undefined;
  let bits = Number(bitsText);
  const wasMapped = base.kind() === "ipv4" && entry.slice(0, slash).includes(":");
  if (wasMapped) bits -= 96; // ::ffff:10.0.0.0/104 is 10.0.0.0/8
  if (bits < 0 || bits > (base.kind() === "ipv4" ? 32 : 128)) return undefined;
  return [base, bits];
}

/** EVERRUNS_EGRESS_ALLOW, for db/env.ts. */
export const EgressAllowSchema = z.string().transform((text, ctx) => {
  try {
    return EgressAllowList.parse(text);
  } catch (error) {
    ctx.addIssue({ code: "custom", message: (error as Error).message });
    return z.NEVER;
  }
});

const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;

/** Parses "TEAM_A_OPENAI_KEY,TEAM_B_OPENAI_KEY"; throws naming the bad entry. */
export function parseProviderKeyEnvs(text: string | undefined, variable = PROVIDER_KEY_ENVS_ENV): ReadonlySet<string> {
  const names = (text ?? "")
    .split(",")
    .map((e) => e.trim())
    .filter(Boolean);
  for (const name of names) {
    if (!ENV_NAME.test(name)) throw new Error(`${variable} has an invalid entry "${name}": expected an environment variable name (A-Z, 0-9, _)`);
  }
  return new Set(names);
}

/** EVERRUNS_PROVIDER_KEY_ENVS, for db/env.ts. */
export const ProviderKeyEnvsSchema = z.string().transform((text, ctx) => {
  try {
    return parseProviderKeyEnvs(text);
  } catch (error) {
    ctx.addIssue({ code: "custom", message: (error as Error).message });
    return z.NEVER;
  }
});

function memoFromEnv<T>(variable: string, parse: (text: string | undefined) => T): () => T {
  let cached: { raw: string | undefined; value: T } | undefined;
  return () => {
    const raw = process.env[variable]?.trim() || undefined;
    if (!cached || cached.raw !== raw) cached = { raw, value: parse(raw) };
    return cached.value;
  };
}

/** EVERRUNS_EGRESS_ALLOW as this process has it (parsed once per value). */
export const egressAllowFromEnv: () => EgressAllowList = memoFromEnv(EGRESS_ALLOW_ENV, (raw) => EgressAllowList.parse(raw));

/** EVERRUNS_PROVIDER_KEY_ENVS as this process has it (parsed once per value). */
export const providerKeyEnvsFromEnv: () => ReadonlySet<string> = memoFromEnv(PROVIDER_KEY_ENVS_ENV, (raw) => parseProviderKeyEnvs(raw));
