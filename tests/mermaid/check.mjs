// Parses each Mermaid diagram file given with Mermaid's own parser, as GitHub renders them.
// Prints one line per file ("ok" or the parser's error); exit 1 if any failed.
import fs from "node:fs";
import { JSDOM } from "jsdom";

const dom = new JSDOM("<!DOCTYPE html><body></body>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import("mermaid");
mermaid.initialize({ startOnLoad: false });
for (const file of process.argv.slice(2)) {
  try {
    await mermaid.parse(fs.readFileSync(file, "utf8"));
    console.log(`${file}: ok`);
  } catch (error) {
    console.log(`${file}: ${error.message.split("\n").join(" ")}`);
    process.exitCode = 1;
  }
}
