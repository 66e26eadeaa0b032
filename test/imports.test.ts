/**
 * No import circle among the project's own modules (issue 21): each module's relative imports,
 * type-only ones included, form a graph without cycles. Control: a graph with a cycle is reported.
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";

const ROOT = path.resolve(__dirname, "..");
const FOLDERS = ["stages", "components", "mock", "cmd", "e2e", "test", "scripts"];

/** Every .ts file of the project's own folders (node_modules, app/ and .tools/ aside), and index.ts. */
function projectFiles(): string[] {
    const out = [path.join(ROOT, "index.ts")];
    const walk = (dir: string) => {
        if (!fs.existsSync(dir)) return;
        for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
            const p = path.join(dir, entry.name);
            if (entry.isDirectory()) walk(p);
            else if (entry.name.endsWith(".ts")) out.push(p);
        }
    };
    for (const folder of FOLDERS) walk(path.join(ROOT, folder));
    return out;
}

/** A module's relative imports (static, type-only and require), resolved to files. */
function importsOf(file: string): string[] {
    const text = fs.readFileSync(file, "utf8");
    const specs = [
        ...text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+"(\.[^"]+)"/gms),
        ...text.matchAll(/require\("(\.[^"]+)"\)/g),
    ].map((m) => m[1]);
    return specs
        .map((spec) => {
            const base = path.resolve(path.dirname(file), spec);
            return [`${base}.ts`, path.join(base, "index.ts")].find((f) => fs.existsSync(f));
        })
        .filter((f): f is string => f !== undefined);
}

/** The first cycle found in a graph, as a list of its nodes (first = last), or undefined. */
export function findCycle(graph: Map<string, string[]>): string[] | undefined {
    const state = new Map<string, "open" | "done">();
    const stack: string[] = [];
    const visit = (node: string): string[] | undefined => {
        if (state.get(node) === "done") return undefined;
        if (state.get(node) === "open") return [...stack.slice(stack.indexOf(node)), node];
        state.set(node, "open");
        stack.push(node);
        for (const next of graph.get(node) ?? []) {
            const cycle = visit(next);
            if (cycle) return cycle;
        }
        stack.pop();
        state.set(node, "done");
        return undefined;
    };
    for (const node of graph.keys()) {
        const cycle = visit(node);
        if (cycle) return cycle;
    }
    return undefined;
}

describe("imports", () => {
    it("no import circle among the project's modules", () => {
        const files = projectFiles();
        const graph = new Map(files.map((f) => [f, importsOf(f)]));
        const edges = [...graph.values()].reduce((n, list) => n + list.length, 0);
        assert.ok(edges > 100, `only ${edges} imports found: is the pattern still right?`);
        const cycle = findCycle(graph);
        assert.equal(cycle?.map((f) => path.relative(ROOT, f)).join(" -> "), undefined);
    });

    it("control: a circle of type-only imports is found", () => {
        const graph = new Map([
            ["names", ["model", "settings"]],
            ["settings", ["names"]],
            ["model", []],
        ]);
        assert.deepEqual(findCycle(graph), ["names", "settings", "names"]);
        assert.equal(
            findCycle(
                new Map([
                    ["a", ["b"]],
                    ["b", []],
                ]),
            ),
            undefined,
        );
    });
});
