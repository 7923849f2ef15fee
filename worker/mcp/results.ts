// What the model sees of an MCP tool's result (docs: MCP client tools, issue 17): one text, never
// binary data. Text blocks are joined by newlines; `structuredContent` is given as JSON when the
// result has no text block (a server should mirror it in a text block, not every one does);
// an image or audio block becomes a reference line (`[image image/png, 12345 bytes]`: the model
// cannot use base64 and it would cost its context); a resource link names its URI; an embedded
// resource gives its text, or a reference line for a blob. The whole is cut at `maxBytes` of
// UTF-8 (never inside a character), saying how much was left out. Pure: no I/O.
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";

type Block = CallToolResult["content"][number];

/** The decoded size of base64 data, without decoding it. */
export function base64Bytes(data: string): number {
  const clean = data.replace(/[\s]/g, "");
  const padding = clean.endsWith("==") ? 2 : clean.endsWith("=") ? 1 : 0;
  return Math.max(0, Math.floor((clean.length * 3) / 4) - padding);
}

function blockText(block: Block): string {
  switch (block.type) {
    case "text":
      return block.text;
    case "image":
    case "audio":
      return `[${block.type} ${block.mimeType}, ${base64Bytes(block.data)} bytes]`;
    case "resource_link":
      return `[resource ${block.uri} ${block.name}]`;
    case "resource": {
      const resource = block.resource;
      if ("text" in resource && typeof resource.text === "string") return resource.text;
      const blob = "blob" in resource && typeof resource.blob === "string" ? resource.blob : "";
      return `[resource ${resource.uri}${resource.mimeType ? ` ${resource.mimeType}` : ""}, ${base64Bytes(blob)} bytes]`;
    }
    default:
      return `[${(block as { type?: unknown }).type as string} block]`;
  }
}

/** `text` cut to at most `maxBytes` bytes of UTF-8 (at a character boundary), with ` [cut: N bytes more]` when cut. */
export function cutUtf8(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text, "utf8");
  if (bytes.length <= maxBytes) return text;
  let end = Math.max(0, maxBytes);
  // step back out of a multi-byte sequence: continuation bytes are 10xxxxxx
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return `${bytes.subarray(0, end).toString("utf8")} [cut: ${bytes.length - end} bytes more]`;
}

/** The CallToolResult as the text the model sees, at most `maxBytes` of UTF-8 (plus the cut note). */
export function toolResultText(result: Pick<CallToolResult, "content" | "structuredContent">, maxBytes: number): string {
  const content = Array.isArray(result.content) ? result.content : [];
  const parts: string[] = [];
  const hasText = content.some((block) => block.type === "text");
  if (!hasText && result.structuredContent !== undefined) parts.push(JSON.stringify(result.structuredContent));
  for (const block of content) parts.push(blockText(block));
  return cutUtf8(parts.join("\n"), maxBytes);
}
