// Refresh the vendored NiiVue bundle from node_modules (run `npm ci` first, then `npm run vendor-niivue`).
//
// Writes, beside this script:
//   niivue.js     @niivue/niivue's self-contained ES module build (dist/index.js), byte for byte
//   niivue.json   package, version and lockfile integrity of the copy, and the file's SHA-256
//   LICENSES.txt  NiiVue's licence and the licence of every package bundled into dist/index.js
// The Python package ships these three files (package data), so `pip install 'radgenome[review]'` needs no npm.
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..", "..", "..");
const modules = join(root, "node_modules");
const pkgDir = join(modules, "@niivue", "niivue");
const lock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8"));
const locked = lock.packages["node_modules/@niivue/niivue"];
const installed = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8"));
if (installed.version !== locked.version) {
  throw new Error(`node_modules has @niivue/niivue ${installed.version}, package-lock.json pins ${locked.version}: run npm ci`);
}

// NiiVue's npm package carries no LICENSE file; this is the text of https://github.com/niivue/niivue/blob/main/LICENSE
const NIIVUE_LICENSE = `BSD 2-Clause License

Copyright (c) 2021, Niivue
All rights reserved.

Redistribution and use in source and binary forms, with or without
modification, are permitted provided that the following conditions are met:

1. Redistributions of source code must retain the above copyright notice, this
   list of conditions and the following disclaimer.

2. Redistributions in binary form must reproduce the above copyright notice,
   this list of conditions and the following disclaimer in the documentation
   and/or other materials provided with the distribution.

THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS"
AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE
IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE ARE
DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT HOLDER OR CONTRIBUTORS BE LIABLE
FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR CONSEQUENTIAL
DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS OR
SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER
CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY,
OR TORT (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE
OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.
`;

const bundle = readFileSync(join(pkgDir, "dist", "index.js"));
writeFileSync(join(here, "niivue.js"), bundle);

// the packages esbuild put into dist/index.js, from its own metafile
const meta = JSON.parse(readFileSync(join(pkgDir, "dist", "metafile-esm.json"), "utf8"));
const bundled = new Set();
for (const input of Object.keys(meta.outputs["dist/index.js"].inputs)) {
  const at = input.lastIndexOf("node_modules/");
  if (at < 0) continue;
  const parts = input.slice(at + "node_modules/".length).split("/");
  bundled.add(parts[0].startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0]);
}
const sections = [`@niivue/niivue ${installed.version} (${installed.license})\n\n${NIIVUE_LICENSE}`];
const packages = [];
for (const name of [...bundled].sort()) {
  const dir = join(modules, name);
  const info = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  const file = readdirSync(dir).find((f) => /^(licen[cs]e|copying)(\.(md|txt))?$/i.test(f));
  if (!file) throw new Error(`${name}: no licence file in node_modules`);
  packages.push({ name, version: info.version, license: info.license });
  sections.push(`${name} ${info.version} (${info.license})\n\n${readFileSync(join(dir, file), "utf8").trim()}\n`);
}
const rule = `\n${"=".repeat(100)}\n\n`;
writeFileSync(join(here, "LICENSES.txt"),
  `Licences of the vendored NiiVue bundle (niivue.js) and of the packages bundled into it.${rule}${sections.join(rule)}`);

writeFileSync(join(here, "niivue.json"), `${JSON.stringify({
  package: "@niivue/niivue",
  version: installed.version,
  integrity: locked.integrity,
  source: "dist/index.js",
  sha256: createHash("sha256").update(bundle).digest("hex"),
  bundled: packages,
}, null, 1)}\n`);
console.log(`vendored @niivue/niivue ${installed.version} (${bundle.length} bytes, ${packages.length} bundled packages)`);
