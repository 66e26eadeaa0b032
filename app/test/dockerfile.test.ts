// STATIC checks of app/Dockerfile and app/.dockerignore, which need no Docker engine; the
// project's scripts/images-test.sh builds and runs the images themselves on a real one.

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { APP_ROOT } from "./helpers";

const dockerfile = fs.readFileSync(path.join(APP_ROOT, "Dockerfile"), "utf8");
const lines = dockerfile
    .replace(/\\\n/g, " ") // join continuation lines
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
const instr = (name: string): string[] => lines.filter((l) => l.toUpperCase().startsWith(name + " "));

test("Dockerfile (static): multi-stage, build stage compiles, runtime installs prod deps only", () => {
    const froms = instr("FROM");
    assert.ok(froms.length >= 2, "at least two FROM stages");
    assert.match(froms[0]!, /\bAS\s+build\b/i);
    assert.match(dockerfile, /npm ci\b/);
    assert.match(dockerfile, /npm ci --omit=dev/);
    assert.match(dockerfile, /npm run build|tsc/);
    assert.match(dockerfile, /COPY --from=build\b/);
    // Node 24 is the LTS line (Node 20 left support on 2026-04-30): build and runtime stages alike.
    for (const from of froms) assert.match(from, /^FROM node:24(-slim)?\b/, from);
});

test("Dockerfile (static): COMPONENT and VERSION come from build args", () => {
    const args = instr("ARG").join("\n");
    assert.match(args, /ARG COMPONENT\b/);
    assert.match(args, /ARG VERSION\b/);
    const envs = instr("ENV").join("\n");
    assert.match(envs, /COMPONENT=\$\{?COMPONENT\}?/);
    assert.match(envs, /VERSION=\$\{?VERSION\}?/);
});

test("Dockerfile (static): non-root numeric USER, EXPOSE 8080, ENTRYPOINT node dist/main.js", () => {
    const users = instr("USER");
    assert.ok(users.length > 0, "USER set");
    const last = users[users.length - 1]!.split(/\s+/)[1]!;
    assert.match(last, /^\d+(:\d+)?$/, "numeric uid");
    assert.notEqual(Number(last.split(":")[0]), 0, "not root");
    // the final USER must come after the last FROM (applies to the runtime stage)
    assert.ok(dockerfile.lastIndexOf("\nUSER ") > dockerfile.lastIndexOf("\nFROM "));
    assert.deepEqual(instr("EXPOSE"), ["EXPOSE 8080"]);
    const ep = instr("ENTRYPOINT");
    assert.equal(ep.length, 1);
    assert.match(ep[0]!, /^ENTRYPOINT \[\s*"node",\s*"dist\/main\.js"\s*\]$/);
});

test("Dockerfile (static): the whole dist/ is copied, so the carry Job's `node dist/carry.js` is in the image", () => {
    assert.ok(fs.existsSync(path.join(APP_ROOT, "src", "carry.ts")), "src/carry.ts compiles to dist/carry.js");
    const tsconfig = JSON.parse(fs.readFileSync(path.join(APP_ROOT, "tsconfig.json"), "utf8")) as {
        compilerOptions: { rootDir: string; outDir: string };
        include: string[];
    };
    assert.deepEqual([tsconfig.compilerOptions.rootDir, tsconfig.compilerOptions.outDir], ["src", "dist"]);
    assert.deepEqual(tsconfig.include, ["src/**/*.ts"]);
    assert.ok(instr("COPY").includes("COPY src ./src"), "the build stage gets all of src/");
    assert.ok(
        instr("COPY").some((l) => /^COPY --from=build\b.*\s\/src\/dist \.\/dist$/.test(l)),
        "the runtime stage gets all of dist/",
    );
});

test(".dockerignore (static) keeps node_modules and build output out of the context", () => {
    const ignore = fs
        .readFileSync(path.join(APP_ROOT, ".dockerignore"), "utf8")
        .split("\n")
        .map((l) => l.trim());
    for (const p of ["node_modules", "dist", "build"]) assert.ok(ignore.includes(p), `${p} ignored`);
});
