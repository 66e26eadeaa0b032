/**
 * The image rung of `npm test`: scripts/images-test.sh starts what it needs (a Docker engine, the
 * node:24-slim stand-in, Redis and MariaDB) and runs this file with `node --test`.
 *
 * For every image the program deploys, named as `npm run pr -- images --registry <r>` lists them
 * (imagesToBuild, cmd/pr.ts), app/Dockerfile is built as it is, with the image's COMPONENT and
 * VERSION build arguments; then each image runs `--read-only` on the host network as the user its
 * Dockerfile names, against the real Redis (1.x) or MariaDB (2.0) servers of app/scripts/services.sh,
 * and is checked: /healthz, the user (10001, not root), the version it reports against its tag, its
 * store (/readyz), writes to its filesystem refused; a vote through each app image is counted in its
 * store and read back through an analytics image. Each check is its own test.
 *
 * Environment: DOCKER_HOST (an engine that has node:24-slim), the servers' settings as
 * `services.sh env` prints them (REDIS_HOST, REDIS_PORT, MYSQL_HOST, MYSQL_PORT, MYSQL_USER,
 * MYSQL_PASSWORD, MYSQL_DATABASE); optional: IMAGES_REGISTRY (the registry in the names, default
 * voting.test), IMAGES_LOG_DIR (where the build logs go), IMAGES_REPORT (a file that gets one line
 * per image: its size and build time).
 */
import { strict as assert } from "assert";
import { execFile, spawn } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { after, describe, it } from "node:test";
import { promisify } from "util";
import { imagesToBuild } from "../cmd/pr";

const execFileP = promisify(execFile);
const APP_DIR = path.resolve(__dirname, "..", "app");
const REGISTRY = process.env.IMAGES_REGISTRY || "voting.test";
const LOG_DIR = process.env.IMAGES_LOG_DIR || fs.mkdtempSync(path.join(os.tmpdir(), "voting-images-"));
const REPORT = process.env.IMAGES_REPORT;
/** The user app/Dockerfile's runtime stage runs as (USER 10001:10001). */
const APP_UID = "10001";
const BASE_IMAGE = "node:24-slim";

type Store = "redis" | "mysql";

interface Image {
    image: string;
    tag: string;
    component: string;
    version: string;
    store: Store;
    container: string;
    port: number;
    built: boolean;
    started: boolean;
    /** The analytics image an app image is pointed at (same store; same version when there is one). */
    partner?: Image;
}

interface Run {
    code: number;
    stdout: string;
    stderr: string;
}

async function docker(args: string[], timeout = 60_000): Promise<Run> {
    try {
        const { stdout, stderr } = await execFileP("docker", args, { timeout, maxBuffer: 64 << 20 });
        return { code: 0, stdout, stderr };
    } catch (err) {
        const e = err as { code?: unknown; stdout?: string; stderr?: string; message: string };
        return {
            code: typeof e.code === "number" ? e.code : -1,
            stdout: e.stdout ?? "",
            stderr: e.stderr || e.message,
        };
    }
}

async function dockerOk(args: string[], timeout?: number): Promise<string> {
    const r = await docker(args, timeout);
    assert.equal(r.code, 0, `docker ${args.join(" ")}: exit ${r.code}\n${r.stderr}`);
    return r.stdout.trim();
}

/** `docker build` of app/ with the classic builder (no BuildKit here), output into LOG; its exit code. */
function build(img: Image, log: string): Promise<number> {
    return new Promise((resolve, reject) => {
        const out = fs.openSync(log, "w");
        const args = ["build", "--network", "host"];
        for (const [k, v] of Object.entries({ COMPONENT: img.component, VERSION: img.version }))
            args.push("--build-arg", `${k}=${v}`);
        args.push("-t", img.image, APP_DIR);
        fs.writeSync(out, `$ DOCKER_BUILDKIT=0 docker ${args.join(" ")}\n`);
        const child = spawn("docker", args, {
            env: { ...process.env, DOCKER_BUILDKIT: "0" },
            stdio: ["ignore", out, out],
        });
        child.on("error", (err) => {
            fs.closeSync(out);
            reject(err);
        });
        child.on("close", (code) => {
            fs.closeSync(out);
            resolve(code ?? -1);
        });
    });
}

const tail = (file: string, n: number): string => fs.readFileSync(file, "utf8").split("\n").slice(-n).join("\n");

function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const srv = net.createServer();
        srv.on("error", reject);
        srv.listen(0, "127.0.0.1", () => {
            const { port } = srv.address() as net.AddressInfo;
            srv.close(() => resolve(port));
        });
    });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function env(name: string): string {
    const v = process.env[name];
    assert.ok(v !== undefined && v !== "", `${name} is not set (scripts/images-test.sh sets it from services.sh env)`);
    return v;
}

/** The settings of the real store an image uses, as `-e` options of docker run. */
function storeEnv(store: Store): string[] {
    const names =
        store === "redis"
            ? ["REDIS_HOST", "REDIS_PORT"]
            : ["MYSQL_HOST", "MYSQL_PORT", "MYSQL_USER", "MYSQL_PASSWORD", "MYSQL_DATABASE"];
    return names.flatMap((n) => ["-e", `${n}=${env(n)}`]);
}

async function get(img: Image, urlPath: string, init?: RequestInit): Promise<Response> {
    return fetch(`http://127.0.0.1:${img.port}${urlPath}`, {
        redirect: "manual",
        signal: AbortSignal.timeout(10_000),
        ...init,
    });
}

async function vote(img: Image, value: string): Promise<void> {
    const res = await get(img, "/", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: `vote=${encodeURIComponent(value)}`,
    });
    assert.equal(res.status, 303, `POST / vote=${value} through ${img.image}: ${res.status} ${await res.text()}`);
}

async function logsOf(img: Image): Promise<string> {
    const r = await docker(["logs", "--tail", "30", img.container]);
    return `${img.container}'s last log lines:\n${r.stdout}${r.stderr}`;
}

function requireStarted(img: Image): void {
    assert.ok(img.built, `${img.image} was not built`);
    assert.ok(img.started, `${img.image} did not start`);
}

/** docker exec in a container, as its own user or another; the result, whatever the exit code. */
function exec(container: string, cmd: string[], user?: string): Promise<Run> {
    return docker(["exec", ...(user ? ["--user", user] : []), container, ...cmd]);
}

/** The uid or gid line of process 1 (the image's entrypoint): real, effective, saved, filesystem. */
async function idsOf(container: string, key: "Uid" | "Gid"): Promise<string[]> {
    const status = await exec(container, ["cat", "/proc/1/status"]);
    assert.equal(status.code, 0, status.stderr);
    return (status.stdout.split("\n").find((l) => l.startsWith(`${key}:`)) ?? "").split(/\s+/).slice(1);
}

/** Tries to write a file into DIR in the container (a shell's `>`); the result. */
function writeProbe(container: string, dir: string, user?: string): Promise<Run> {
    return exec(container, ["sh", "-c", 'echo probe > "$1/voting-write-probe"', "sh", dir], user);
}

const report: string[] = [];

describe(`the app's images: app/Dockerfile built and run (docker, ${BASE_IMAGE} stand-in)`, async () => {
    let images: Image[];
    try {
        const list = await imagesToBuild(REGISTRY);
        images = [];
        for (const { image, buildArgs } of list) {
            const component = buildArgs.COMPONENT;
            const version = buildArgs.VERSION;
            images.push({
                image,
                tag: image.slice(image.lastIndexOf(":") + 1),
                component,
                version,
                store: version.startsWith("2.") ? "mysql" : "redis",
                container: `voting-image-${component}-${version.replace(/\W/g, "-")}`,
                port: await freePort(),
                built: false,
                started: false,
            });
        }
    } catch (err) {
        it("the images the program deploys (imagesToBuild, cmd/pr.ts)", () => {
            throw err;
        });
        return;
    }
    it(`the program deploys images to check: ${images.map((i) => i.image).join(", ")}`, () => {
        assert.ok(images.length > 0, "imagesToBuild listed no image");
        assert.ok(
            images.some((i) => i.component === "app") && images.some((i) => i.component === "analytics"),
            "both components",
        );
    });
    for (const img of images.filter((i) => i.component === "app")) {
        const same = images.filter((a) => a.component === "analytics" && a.store === img.store);
        img.partner = same.find((a) => a.version === img.version) ?? same[0];
    }

    after(async () => {
        for (const img of images) if (img.started) await docker(["rm", "--force", img.container]);
        if (REPORT) fs.writeFileSync(REPORT, report.join("\n") + (report.length ? "\n" : ""));
    });

    for (const img of images) {
        it(
            `${img.image}: app/Dockerfile builds (COMPONENT=${img.component} VERSION=${img.version})`,
            { timeout: 900_000 },
            async (t) => {
                const log = path.join(LOG_DIR, `build-${img.container}.log`);
                const t0 = Date.now();
                const code = await build(img, log);
                const seconds = (Date.now() - t0) / 1000;
                assert.equal(code, 0, `docker build exited ${code}; the end of ${log}:\n${tail(log, 40)}`);
                img.built = true;
                const info = JSON.parse(await dockerOk(["image", "inspect", "--format", "{{json .}}", img.image]));
                const baseSize = Number(await dockerOk(["image", "inspect", "--format", "{{.Size}}", BASE_IMAGE]));
                const size = Number(info.Size);
                const line =
                    `${img.image}: ${(size / 1e6).toFixed(0)} MB (${((size - baseSize) / 1e6).toFixed(0)} MB on top of ` +
                    `${BASE_IMAGE}), built in ${seconds.toFixed(1)} s`;
                t.diagnostic(line);
                report.push(line);
                // What the Dockerfile promises about the image itself.
                assert.equal(info.Config.User, `${APP_UID}:${APP_UID}`, "USER of the runtime stage");
                const imageEnv: string[] = info.Config.Env ?? [];
                assert.ok(imageEnv.includes(`COMPONENT=${img.component}`), `ENV has COMPONENT=${img.component}`);
                assert.ok(imageEnv.includes(`VERSION=${img.version}`), `ENV has VERSION=${img.version}`);
                assert.deepEqual(info.Config.Entrypoint, ["node", "dist/main.js"]);
            },
        );
    }

    for (const img of images) {
        it(`${img.image}: starts with --read-only and answers GET /healthz with ok`, { timeout: 90_000 }, async () => {
            assert.ok(img.built, `${img.image} was not built`);
            await docker(["rm", "--force", img.container]);
            const partner = img.partner;
            // No --user: it runs as the user its Dockerfile names.
            await dockerOk([
                "run",
                "--detach",
                "--name",
                img.container,
                "--read-only",
                "--network",
                "host",
                "-e",
                `PORT=${img.port}`,
                ...storeEnv(img.store),
                ...(partner ? ["-e", "ANALYTICS_HOST=127.0.0.1", "-e", `ANALYTICS_PORT=${partner.port}`] : []),
                img.image,
            ]);
            img.started = true;
            assert.equal(
                await dockerOk(["inspect", "--format", "{{.HostConfig.ReadonlyRootfs}}", img.container]),
                "true",
            );
            const deadline = Date.now() + 60_000;
            let last: string;
            for (;;) {
                try {
                    const res = await get(img, "/healthz");
                    const body = await res.text();
                    if (res.status === 200 && body === "ok") break;
                    last = `${res.status} ${body}`;
                } catch (err) {
                    last = (err as Error).message;
                }
                const running = await dockerOk(["inspect", "--format", "{{.State.Running}}", img.container]);
                assert.equal(running, "true", `${img.container} exited; ${await logsOf(img)}`);
                assert.ok(Date.now() < deadline, `no ok from /healthz in 60 s (last: ${last}); ${await logsOf(img)}`);
                await sleep(200);
            }
        });

        it(`${img.image}: its process runs as uid and gid ${APP_UID}, not root`, async () => {
            requireStarted(img);
            const all = [APP_UID, APP_UID, APP_UID, APP_UID];
            assert.deepEqual(await idsOf(img.container, "Uid"), all, "real, effective, saved, fs uid");
            assert.deepEqual(await idsOf(img.container, "Gid"), all, "real, effective, saved, fs gid");
            const cmdline = await dockerOk(["exec", img.container, "cat", "/proc/1/cmdline"]);
            assert.equal(cmdline.replace(/\0/g, " ").trim(), "node dist/main.js", "process 1 is the app");
            assert.equal(await dockerOk(["exec", img.container, "id", "-u"]), APP_UID, "docker exec's default user");
        });

        it(`${img.image}: reports version ${img.tag}, its tag`, async () => {
            requireStarted(img);
            assert.equal(img.version, img.tag, "the image is built with VERSION equal to its tag");
            if (img.component === "analytics") {
                const res = await get(img, "/analytics");
                const body = await res.text();
                assert.equal(res.status, 200, body);
                const json = JSON.parse(body);
                assert.equal(json.version, img.tag, `/analytics reports version ${json.version}`);
                assert.equal(json.store, img.store);
            } else {
                const res = await get(img, "/");
                const html = await res.text();
                assert.equal(res.status, 200, html);
                assert.equal(/<span id="version">([^<]*)<\/span>/.exec(html)?.[1], img.tag, "the page's footer");
                assert.equal(/<span id="store">([^<]*)<\/span>/.exec(html)?.[1], img.store, "the page's footer");
            }
        });

        it(`${img.image}: reaches its ${img.store === "redis" ? "Redis" : "MariaDB"} server (GET /readyz)`, async () => {
            requireStarted(img);
            const res = await get(img, "/readyz");
            assert.deepEqual([res.status, await res.text()], [200, "ready"]);
        });

        it(`${img.image}: its filesystem refuses writes, as its user and as root (read-only root)`, async () => {
            requireStarted(img);
            for (const [dir, user] of [
                ["/app", undefined],
                ["/app/dist", undefined],
                ["/tmp", undefined],
                ["/", undefined],
                ["/app", "0"],
                ["/tmp", "0"],
            ] as const) {
                const r = await writeProbe(img.container, dir, user);
                const who = user === undefined ? `as its user` : `as uid ${user}`;
                assert.notEqual(r.code, 0, `writing into ${dir} ${who} succeeded`);
                assert.match(r.stderr, /Read-only file system/, `writing into ${dir} ${who}: ${r.stderr}`);
            }
            // The app's own runtime gets the same answer.
            const r = await exec(img.container, ["node", "-e", "require('fs').writeFileSync('/app/dist/probe', 'x')"]);
            assert.notEqual(r.code, 0, "node wrote into /app/dist");
            assert.match(r.stderr, /EROFS/);
            const left = await exec(img.container, [
                "sh",
                "-c",
                "ls /app/voting-write-probe /tmp/voting-write-probe /app/dist/probe",
            ]);
            assert.notEqual(left.code, 0, `a probe file exists: ${left.stdout}`);
        });
    }

    const control = images[0];
    it(`control: ${control.image} started without --read-only and as root: the same probes see uid 0 and writes succeed`, async () => {
        assert.ok(control.built, `${control.image} was not built`);
        const container = `${control.container}-control`;
        await docker(["rm", "--force", container]);
        await dockerOk(["run", "--detach", "--name", container, "--user", "0", "--network", "none", control.image]);
        try {
            assert.deepEqual(await idsOf(container, "Uid"), ["0", "0", "0", "0"]);
            for (const dir of ["/app", "/tmp"]) {
                const r = await writeProbe(container, dir);
                assert.equal(r.code, 0, `writing into ${dir} of a writable container: ${r.stderr}`);
            }
        } finally {
            await docker(["rm", "--force", container]);
        }
    });

    // The vote carry's Job (components/votingApp.ts) runs the app 2.0 image with the command
    // `node dist/carry.js` (Kubernetes' command replaces the image's ENTRYPOINT, as --entrypoint does).
    const carryImage = images.find((i) => i.component === "app" && i.version === "2.0");
    const v1App = images.find((i) => i.component === "app" && i.store === "redis");
    it(`${carryImage?.image ?? "the app 2.0 image"}: \`node dist/carry.js\` (the carry Job) carries the votes 1.x cast in Redis into MariaDB, once, --read-only as its user`, async () => {
        assert.ok(carryImage && v1App, "the app 2.0 image and an app image on Redis are among the images");
        assert.ok(carryImage.built, `${carryImage.image} was not built`);
        requireStarted(v1App);
        const carry = async (): Promise<{ carried: Record<string, number>; total: number }> => {
            const r = await docker([
                "run",
                "--rm",
                "--read-only",
                "--network",
                "host",
                "--entrypoint",
                "node",
                ...storeEnv("redis"),
                ...storeEnv("mysql"),
                "-e",
                "ISTIO_QUIT_ON_EXIT=false",
                "-e",
                "CARRY_MODE=seed",
                carryImage.image,
                "dist/carry.js",
            ]);
            assert.equal(r.code, 0, `node dist/carry.js exited ${r.code}: ${r.stderr}${r.stdout}`);
            const lines = r.stdout.split("\n").filter((l) => l.trim());
            assert.equal(lines.length, 1, `one JSON line on stdout: ${r.stdout}`);
            return JSON.parse(lines[0]!);
        };
        const mysqlCounts = async (): Promise<Record<string, number>> => {
            const partner = images.find((i) => i.component === "analytics" && i.store === "mysql");
            assert.ok(partner, "an analytics image on MariaDB");
            requireStarted(partner);
            return JSON.parse(await (await get(partner, "/analytics")).text()).counts;
        };
        await carry(); // whatever an earlier run of these tests left in Redis
        const before = await mysqlCounts();
        await vote(v1App, "Cats");
        await vote(v1App, "Cats");
        await vote(v1App, "Dogs");
        // Control: the votes cast on 1.x are not in MariaDB until a carry takes them.
        assert.deepEqual(await mysqlCounts(), before, "1.x's votes reached MariaDB without a carry");
        const first = await carry();
        assert.deepEqual(first.carried, { Cats: 2, Dogs: 1 });
        const expected = { Cats: before.Cats! + 2, Dogs: before.Dogs! + 1 };
        assert.deepEqual(await mysqlCounts(), expected, "2.0 shows 1.x's votes once carried");
        const second = await carry();
        assert.equal(second.total, 0, "a second run carries nothing");
        assert.deepEqual(await mysqlCounts(), expected);
    });

    for (const img of images.filter((i) => i.component === "app")) {
        const partner = img.partner;
        const name = partner
            ? `${img.image} → ${partner.image} → ${img.store}: votes through the app are counted and read back`
            : `${img.image}: votes read back through an analytics image on ${img.store}`;
        it(name, async () => {
            assert.ok(partner, `no analytics image on ${img.store} among the images`);
            requireStarted(img);
            requireStarted(partner);
            await vote(img, "reset");
            await vote(img, "Cats");
            await vote(img, "Cats");
            await vote(img, "Dogs");
            const res = await get(partner, "/analytics");
            const json = JSON.parse(await res.text());
            assert.deepEqual(json.counts, { Cats: 2, Dogs: 1 }, `${partner.image}'s /analytics`);
            const page = await (await get(img, "/")).text();
            const results = /<div id="results"> (.*) <\/div>/.exec(page)?.[1];
            assert.equal(results, json.text, "the app's page shows analytics' text");
        });
    }
});
