// Reads a `vercel build` result the way the Vercel CLI and platform would, for tests/vercel_build/.
// Prints one JSON document on stdout.
//
//   node inspect.mjs uploads <vercel-package-dir> <project-dir>
//     The files `vercel deploy` (source upload) and `vercel deploy --prebuilt` would upload from
//     <project-dir>, computed by the CLI's own bundled @vercel/client (`buildFileTree`, with the
//     CLI's default ignores and the project's .vercelignore): {"source": [...], "prebuilt": [...]},
//     paths relative to <project-dir>.
//
//   node inspect.mjs routes <config.json> <path>...
//     For each request path, what the Build Output API routes in <config.json> do with it: the
//     headers its routes add before the filesystem is checked, and the destination of the first
//     rewrite after it (Vercel's routing order, reduced to what this project's vercel.json uses):
//     {"<path>": {"headers": {...}, "rewrite": "/api/…" | null}}.

import { readdirSync, readFileSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { pathToFileURL } from "node:url";

const [command, ...args] = process.argv.slice(2);

if (command === "uploads") {
  const [cliDir, projectDir] = args;
  const client = await bundledClient(cliDir);
  const upload = async (prebuilt) => {
    const { fileList } = await client.buildFileTree(
      projectDir,
      { isDirectory: true, prebuilt, vercelOutputDir: join(projectDir, ".vercel", "output") },
      () => {},
    );
    return fileList.map((file) => relative(projectDir, file).split(sep).join("/")).sort();
  };
  print({ source: await upload(false), prebuilt: await upload(true) });
} else if (command === "routes") {
  const [configPath, ...paths] = args;
  const { routes } = JSON.parse(readFileSync(configPath, "utf8"));
  print(Object.fromEntries(paths.map((path) => [path, route(routes, path)])));
} else {
  fail(`unknown command ${JSON.stringify(command)}: expected \`uploads\` or \`routes\``);
}

// The @vercel/client module bundled inside the installed CLI: the code `vercel deploy` runs, not
// a separately installed (and possibly different) version of it.
async function bundledClient(cliDir) {
  const chunks = join(cliDir, "dist", "chunks");
  for (const name of readdirSync(chunks)) {
    const file = join(chunks, name);
    if (!readFileSync(file, "utf8").includes("buildFileTree: () =>")) continue;
    const module = await import(pathToFileURL(file).href);
    for (const [key, value] of Object.entries(module)) {
      if (!key.startsWith("require_") || typeof value !== "function") continue;
      const exports = value();
      if (exports && typeof exports.buildFileTree === "function") return exports;
    }
  }
  fail(`no bundled @vercel/client (exporting buildFileTree) found under ${chunks}`);
}

function route(routes, path) {
  const headers = {};
  let phase = null;
  for (const entry of routes) {
    if (entry.handle) {
      phase = entry.handle;
      continue;
    }
    const match = new RegExp(entry.src).exec(path);
    if (!match) continue;
    if (phase === null && entry.headers) Object.assign(headers, entry.headers);
    if (phase === "filesystem" && entry.dest) {
      const rewrite = entry.dest.replace(/\$(\d+)/g, (_, group) => match[Number(group)] ?? "");
      return { headers, rewrite };
    }
  }
  return { headers, rewrite: null };
}

function print(value) {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

function fail(message) {
  process.stderr.write(`inspect.mjs: ${message}\n`);
  process.exit(1);
}
