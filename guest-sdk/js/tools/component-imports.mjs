// Prints what a WebAssembly component imports, one line each: node component-imports.mjs FILE.wasm...
// (a dev tool: which interfaces a built plugin needs from the host). With several files, each
// line starts with the file's name.
import { readFileSync } from "node:fs";
import { componentImports, customSectionNames } from "./wasm-sections.mjs";

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node component-imports.mjs COMPONENT.wasm...");
  process.exit(2);
}
for (const file of files) {
  const bytes = readFileSync(file);
  const prefix = files.length > 1 ? `${file}: ` : "";
  for (const { name, sort } of componentImports(bytes)) console.log(`${prefix}import ${sort} ${name}`);
  for (const name of customSectionNames(bytes)) console.log(`${prefix}custom section ${name}`);
}
