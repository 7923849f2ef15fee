// validTracestate (lib/tracing/tracestate.ts): W3C Trace Context level 1 `tracestate`, with the
// examples of the recommendation (https://www.w3.org/TR/trace-context/#tracestate-header).
import { describe, expect, it } from "vitest";
import { validTracestate } from "../tracing/tracestate.ts";

describe("validTracestate", () => {
  it("takes the W3C examples, normalized", () => {
    expect(validTracestate("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")).toBe("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    expect(validTracestate("congo=t61rcWkgMzE")).toBe("congo=t61rcWkgMzE");
    // OWS (spaces, tabs) around the members, empty members: allowed and dropped
    expect(validTracestate(" rojo=00f067aa0ba902b7 ,\tcongo=t61rcWkgMzE\t")).toBe("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    expect(validTracestate("rojo=1,,congo=2,")).toBe("rojo=1,congo=2");
    // multi-tenant keys, and the key characters _ - * /
    expect(validTracestate("fw529a3039@dt=FW4;0;0;0;0;0;0;0")).toBe("fw529a3039@dt=FW4;0;0;0;0;0;0;0");
    expect(validTracestate("a_b-c*d/e=1,0tenant@sys_tem=2")).toBe("a_b-c*d/e=1,0tenant@sys_tem=2");
    // a value may hold spaces inside, and any printable ASCII but "," and "="
    expect(validTracestate("rojo=a b~!\"#$%&'()*+-./:;<>?@[\\]^_`{|}")).toBe("rojo=a b~!\"#$%&'()*+-./:;<>?@[\\]^_`{|}");
    // a leading space is part of the value (only a trailing one is not)
    expect(validTracestate("rojo= x")).toBe("rojo= x");
  });

  it("combines several headers into one list, as W3C allows", () => {
    expect(validTracestate(["rojo=00f067aa0ba902b7", "congo=t61rcWkgMzE"])).toBe("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    expect(validTracestate(["rojo=1", "rojo=2"])).toBeNull();
    expect(validTracestate(["rojo=1", 2])).toBeNull();
  });

  it("takes up to 32 members and 512 characters, and truncates a longer list as W3C says (members over 128 characters first, then from the end)", () => {
    const members = (n: number) => Array.from({ length: n }, (_, i) => `k${i}=v`).join(",");
    expect(validTracestate(members(32))).toBe(members(32));
    expect(validTracestate(members(33))).toBe(members(32));
    expect(validTracestate(members(40))).toBe(members(32));
    const long = `a=${"x".repeat(254)},b=${"y".repeat(254)}`; // 2 × 256 + 1
    expect(long.length).toBe(513);
    expect(validTracestate(long)).toBe(`a=${"x".repeat(254)}`);
    expect(validTracestate(long.slice(0, 512))).toBe(long.slice(0, 512));
    // a large member goes before the small ones after it; then from the end
    const mixed = [`big=${"z".repeat(200)}`, ...Array.from({ length: 20 }, (_, i) => `k${i}=${"v".repeat(15)}`)].join(",");
    expect(mixed.length).toBeGreaterThan(512);
    expect(validTracestate(mixed)).toBe(Array.from({ length: 20 }, (_, i) => `k${i}=${"v".repeat(15)}`).join(","));
    const smallOnly = Array.from({ length: 30 }, (_, i) => `k${String(i).padStart(2, "0")}=${"v".repeat(16)}`);
    expect(smallOnly.join(",").length).toBeGreaterThan(512);
    expect(validTracestate(smallOnly.join(","))).toBe(smallOnly.slice(0, 24).join(",")); // 24 × 20 + 23 commas = 503
    // past 32 members the right-most go, a long one among the first 32 stays (the size is within 512)
    const withLong = Array.from({ length: 33 }, (_, i) => (i === 5 ? `long=${"l".repeat(200)}` : `k${i}=v`));
    expect(withLong.join(",").length).toBeLessThan(512);
    expect(validTracestate(withLong.join(","))).toBe(withLong.slice(0, 32).join(","));
    // a truncated list is checked whole first: an invalid member anywhere is still ignored
    expect(validTracestate(`${members(40)},Bad=1`)).toBeNull();
    // a key of 256 characters; not 257
    expect(validTracestate(`a${"b".repeat(255)}=1`)).not.toBeNull();
    expect(validTracestate(`a${"b".repeat(256)}=1`)).toBeNull();
    // a value of 256 characters; not 257
    expect(validTracestate(`k=${"v".repeat(256)}`)).not.toBeNull();
    expect(validTracestate(`k=${"v".repeat(257)}`)).toBeNull();
  });

  it("ignores (null) an invalid tracestate", () => {
    for (const bad of [
      "Rojo=1", // a key starts with a lowercase letter
      "1rojo=1", // (a simple key)
      "ro jo=1",
      "rojo=1,rojo=2", // a key twice
      "rojo", // no value
      "rojo=", // an empty value
      "rojo=a=b", // "=" in a value
      "rojo=a\tb", // a tab in a value
      "rojo=é", // not ASCII
      "tenant@=1", // a multi-tenant key without its system
      "tenant@1sys=1", // a system id starts with a letter
      `t@${"s".repeat(15)}=1`, // a system id of at most 14 characters
      "",
      " , ",
      undefined,
      null,
      42,
    ]) {
      expect(validTracestate(bad), String(bad)).toBeNull();
    }
  });
});
