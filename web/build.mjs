// The whole build: no bundler. Copies the page's own files (src/) and the vendors' prebuilt
// files (from node_modules, installed by `npm ci` from the lock file) into dist/.
// Writes dist.tmp/ first and swaps it in, so a running server never sees half a build.
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "dist.tmp");
const vendor = {
  "shaka-player.compiled.js": "node_modules/shaka-player/dist/shaka-player.compiled.js",
  "redoc.standalone.js": "node_modules/redoc/bundles/redoc.standalone.js",
};

rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, "vendor"), { recursive: true });
cpSync(join(here, "src"), out, { recursive: true });
for (const [name, from] of Object.entries(vendor)) {
  const source = join(here, from);
  if (!existsSync(source)) {
    console.error(`web: ${from} is missing: run \`npm ci\` in web/ first`);
    process.exit(1);
  }
  cpSync(source, join(out, "vendor", name));
}
const lock = JSON.parse(readFileSync(join(here, "package-lock.json"), "utf8"));
const versions = Object.fromEntries(
  ["shaka-player", "redoc"].map((name) => [name, lock.packages[`node_modules/${name}`].version]),
);
writeFileSync(join(out, "build.json"), JSON.stringify({ versions }, null, 2) + "\n");
rmSync(join(here, "dist"), { recursive: true, force: true });
renameSync(out, join(here, "dist"));
console.log(`web: built web/dist (shaka-player ${versions["shaka-player"]}, redoc ${versions.redoc})`);
