/**
 * What the program asks of Azure, held to the README's roles table ("Azure identities and
 * roles"): the program runs in aks mode under the mock runtime; every Azure resource type it
 * registers and every Azure function it calls is mapped to the Azure action it needs, and a role
 * the table gives the deployer must grant that action on that scope (roles as Microsoft defines
 * them, vendored in test/fixtures/azure-roles.json). Every role assignment the program makes must
 * be a row of the table. The table is parsed from README.md itself, so the two cannot drift.
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { MOCK_DEPLOYER, ProgramRun } from "../mock/runProgram";
import { run, runStage } from "./support/runs";

const ROOT = path.resolve(__dirname, "..");
const HEADING = "## Azure identities and roles";

interface RoleDefinition {
    id: string;
    actions: string[];
    notActions: string[];
    source: string;
}
const ROLES: Record<string, RoleDefinition> = JSON.parse(
    fs.readFileSync(path.join(ROOT, "test/fixtures/azure-roles.json"), "utf8"),
).roles;

/** Where an action applies. The program's resource group is its own, so it sits under the subscription. */
type Scope = "subscription" | "resource group" | "registry" | "cluster";
const WITHIN: Record<Scope, Scope[]> = {
    subscription: ["subscription", "resource group", "registry", "cluster"],
    "resource group": ["resource group", "registry", "cluster"],
    registry: ["registry"],
    cluster: ["cluster"],
};

interface Need {
    action: string;
    scope: Scope;
}

/**
 * The Azure action each resource type (create or update) and each function needs, from Azure's
 * resource provider operations (learn.microsoft.com, "Azure permissions": Containers, Management
 * and governance). `null`: no Azure RBAC action (Entra ID tokens and the caller's own identity).
 * A type missing here fails the test: add it to the README's roles table and to this map.
 */
const ACTION_MAP: Record<string, Need | null> = {
    "azure-native:resources:ResourceGroup": {
        action: "Microsoft.Resources/subscriptions/resourceGroups/write",
        scope: "subscription",
    },
    "azure-native:containerservice:ManagedCluster": {
        action: "Microsoft.ContainerService/managedClusters/write",
        scope: "resource group",
    },
    "azure-native:containerservice:AgentPool": {
        action: "Microsoft.ContainerService/managedClusters/agentPools/write",
        scope: "resource group",
    },
    "azure-native:containerregistry:Registry": {
        action: "Microsoft.ContainerRegistry/registries/write",
        scope: "resource group",
    },
    // The program's role assignments are on its registry (checked below).
    "azure-native:authorization:RoleAssignment": {
        action: "Microsoft.Authorization/roleAssignments/write",
        scope: "registry",
    },
    "azure-native:containerservice:listManagedClusterUserCredentials": {
        action: "Microsoft.ContainerService/managedClusters/listClusterUserCredential/action",
        scope: "resource group",
    },
    // The identity the provider runs as, and an Entra ID token for it: no Azure action.
    "azure-native:authorization:getClientConfig": null,
    "azure-native:authorization:getClientToken": null,
    // Pushing to the program's registry, with the deployer's own token (stages/acrToken.ts).
    "docker-build:index:Image": { action: "Microsoft.ContainerRegistry/registries/push/write", scope: "registry" },
};

/** Functions a preview never calls (the program asks for a push token only in `pulumi up`). */
const UP_ONLY = new Set(["azure-native:authorization:getClientToken"]);

/** The kubelet identity's object ID, as the ManagedCluster stand-in reports it (mock/runProgram.ts). */
const KUBELET_OBJECT_ID = "00000000-0000-0000-0000-00000000c0de";

interface Row {
    identity: string;
    role: string;
    scope: Scope;
    why: string;
}

function scopeOf(cell: string): Scope {
    const text = cell.toLowerCase();
    for (const scope of ["subscription", "resource group", "registry", "cluster"] as const)
        if (text.includes(scope)) return scope;
    throw new Error(`the README's roles table has a scope it cannot read: ${JSON.stringify(cell)}`);
}

/** The roles table: the first table after HEADING in README.md (`| identity | Azure role | scope | why |`). */
function readmeTable(markdown: string): Row[] {
    const lines = markdown.split("\n");
    const at = lines.findIndex((l) => l.trim() === HEADING);
    assert.ok(at >= 0, `README.md has no heading ${JSON.stringify(HEADING)}`);
    assert.equal(
        lines.filter((l) => l.trim() === HEADING).length,
        1,
        `README.md has more than one ${JSON.stringify(HEADING)}`,
    );
    const start = lines.findIndex((l, i) => i > at && l.startsWith("|"));
    const nextHeading = lines.findIndex((l, i) => i > at && /^#{1,2} /.test(l));
    assert.ok(start > at && (nextHeading < 0 || start < nextHeading), `no table under ${HEADING}`);
    const table: string[] = [];
    for (let i = start; i < lines.length && lines[i].startsWith("|"); i++) table.push(lines[i]);
    const cells = (line: string) =>
        line
            .replace(/^\|/, "")
            .replace(/\|$/, "")
            .split("|")
            .map((c) => c.trim());
    assert.deepEqual(cells(table[0]), ["identity", "Azure role", "scope", "why"], "the roles table's columns");
    return table.slice(2).map((line) => {
        const [identity, role, scope, why] = cells(line);
        return { identity: identity.replace(/[*`]/g, ""), role, scope: scopeOf(scope), why };
    });
}

/** Azure's action matching: case-insensitive, `*` matching any characters ("/" included). */
function matches(pattern: string, action: string): boolean {
    const regex = pattern
        .split("*")
        .map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, "\\$&"))
        .join(".*");
    return new RegExp(`^${regex}$`, "i").test(action);
}

function grants(role: string, action: string): boolean {
    const definition = ROLES[role];
    if (!definition) throw new Error(`test/fixtures/azure-roles.json does not define the role ${role}`);
    return definition.actions.some((p) => matches(p, action)) && !definition.notActions.some((p) => matches(p, action));
}

/** What a run asks of Azure: the types it registers, the functions it calls, its role assignments. */
function asks(r: ProgramRun) {
    const types = new Set<string>();
    for (const x of r.resources) {
        if (!x.custom || x.read) continue;
        if (x.type.startsWith("azure-native:")) types.add(x.type);
        // Pushing to the registry the program creates (not to images.registry elsewhere).
        if (
            x.type === "docker-build:index:Image" &&
            x.inputs.push &&
            r.resources.some((y) => y.type === "azure-native:containerregistry:Registry")
        )
            types.add(x.type);
    }
    const functions = new Set((r.invokes ?? []).filter((t) => t.startsWith("azure-native:")));
    const assignments = r.resources
        .filter((x) => x.type === "azure-native:authorization:RoleAssignment")
        .map((x) => {
            const guid = String(x.inputs.roleDefinitionId).split("/").pop()!;
            const role = Object.entries(ROLES).find(([, d]) => d.id === guid)?.[0];
            const identity =
                x.inputs.principalId === MOCK_DEPLOYER.objectId
                    ? "deployer"
                    : x.inputs.principalId === KUBELET_OBJECT_ID
                      ? "kubelet"
                      : `principal ${x.inputs.principalId}`;
            const scope: Scope | undefined = /\/providers\/Microsoft\.ContainerRegistry\/registries\/[^/]+$/.test(
                x.inputs.scope,
            )
                ? "registry"
                : undefined;
            return { name: x.name, guid, role, identity, scope };
        });
    return { types: [...types, ...functions].sort(), functions: [...functions].sort(), assignments };
}

/** Why the deployer's rows do not cover these types: one line each, none when they do. */
function uncovered(types: string[], rows: Row[], identity: string, map = ACTION_MAP): string[] {
    const mine = rows.filter((r) => r.identity === identity);
    const problems: string[] = [];
    for (const type of types) {
        if (!(type in map)) {
            problems.push(
                `${type}: the program asks this of Azure, and the test does not know which role it needs: ` +
                    `add it to the README's roles table and to the action map (ACTION_MAP in test/azureRoles.test.ts)`,
            );
            continue;
        }
        const need = map[type];
        if (!need) continue;
        const by = mine.filter((r) => WITHIN[r.scope].includes(need.scope) && grants(r.role, need.action));
        if (by.length === 0)
            problems.push(
                `${type} needs ${need.action} on the ${need.scope}, which no role the README's roles table gives the ${identity} grants there ` +
                    `(it gives: ${mine.map((r) => `${r.role} on the ${r.scope}`).join(", ") || "nothing"})`,
            );
    }
    return problems;
}

/** Role assignments the program makes that are not rows of the table. */
function unlisted(assignments: ReturnType<typeof asks>["assignments"], rows: Row[]): string[] {
    return assignments.flatMap((a) => {
        if (!a.role) return [`${a.name} assigns role ${a.guid}, which test/fixtures/azure-roles.json does not name`];
        if (!a.scope) return [`${a.name} assigns ${a.role} on a scope the test does not know`];
        const listed = rows.some(
            (r) => r.identity === a.identity && r.role === a.role && WITHIN[r.scope].includes(a.scope!),
        );
        return listed
            ? []
            : [`the program gives the ${a.identity} ${a.role} on the ${a.scope}: add it to the README's roles table`];
    });
}

describe("Azure identities and roles: the README's table against what the program asks of Azure", () => {
    const table = () => readmeTable(fs.readFileSync(path.join(ROOT, "README.md"), "utf8"));
    const runs = async () => ({
        build: await runStage("deploy"),
        prebuilt: await run({ stage: "deploy", "images.build": "false", "images.registry": "myacr.azurecr.io" }),
    });

    it("the table names only known identities and roles the fixture defines", () => {
        const rows = table();
        assert.ok(rows.length > 0);
        for (const row of rows) {
            assert.ok(
                ["deployer", "preview", "ephemeral AKS job", "kubelet"].includes(row.identity),
                `the roles table names an identity the README does not define: ${row.identity}`,
            );
            assert.ok(ROLES[row.role], `the roles table names ${row.role}; add it to test/fixtures/azure-roles.json`);
        }
    });

    for (const build of [true, false]) {
        it(`images.build=${build}: every Azure resource and function is covered by a role the table gives the deployer`, async () => {
            const r = build ? (await runs()).build : (await runs()).prebuilt;
            const { types } = asks(r);
            // The run reached Azure at all (a run that registers nothing would pass trivially).
            assert.ok(types.includes("azure-native:containerservice:ManagedCluster"), types.join(", "));
            if (build)
                for (const t of [
                    "azure-native:containerregistry:Registry",
                    "azure-native:authorization:RoleAssignment",
                    "azure-native:authorization:getClientToken",
                    "docker-build:index:Image",
                ])
                    assert.ok(types.includes(t), `${t} not seen: ${types.join(", ")}`);
            else assert.ok(!types.includes("azure-native:containerregistry:Registry"));
            assert.deepEqual(uncovered(types, table(), "deployer"), []);
        });
    }

    it("every role assignment the program makes is a row of the table", async () => {
        const { build, prebuilt } = await runs();
        const made = asks(build).assignments;
        assert.deepEqual(made.map((a) => `${a.identity}: ${a.role} on the ${a.scope}`).sort(), [
            "deployer: AcrPush on the registry",
            "kubelet: AcrPull on the registry",
        ]);
        assert.deepEqual(unlisted(made, table()), []);
        assert.deepEqual(asks(prebuilt).assignments, [], "images.build=false assigns no role");
    });

    it("a preview's functions (an up's, less the push token) are covered by the preview's roles", async () => {
        const { build } = await runs();
        const functions = asks(build).functions.filter((t) => !UP_ONLY.has(t));
        assert.ok(functions.includes("azure-native:containerservice:listManagedClusterUserCredentials"));
        assert.deepEqual(uncovered(functions, table(), "preview"), []);
    });

    describe("control cases: the checks can fail", () => {
        it("a resource type the action map does not know fails, saying what to do", async () => {
            const { types } = asks((await runs()).build);
            const problems = uncovered([...types, "azure-native:network:VirtualNetwork"], table(), "deployer");
            assert.equal(problems.length, 1, problems.join("\n"));
            assert.match(problems[0], /^azure-native:network:VirtualNetwork: /);
            assert.match(problems[0], /add it to the README's roles table and to the action map/);
        });

        it("a table without the roleAssignments row fails for the role assignments", async () => {
            const { types, assignments } = asks((await runs()).build);
            const rows = table().filter(
                (r) => !(r.identity === "deployer" && grants(r.role, "Microsoft.Authorization/roleAssignments/write")),
            );
            assert.ok(rows.length < table().length, "the table had no such row to take out");
            const problems = uncovered(types, rows, "deployer");
            assert.deepEqual(
                problems.map((p) => p.split(" ")[0]),
                ["azure-native:authorization:RoleAssignment"],
            );
            assert.match(problems[0], /Microsoft\.Authorization\/roleAssignments\/write/);
            // Contributor, still in the table, does not grant it: its NotActions take it out.
            assert.ok(rows.some((r) => r.identity === "deployer" && r.role === "Contributor"));
            // And a table without the AcrPush row misses an assignment the program makes.
            const noPush = table().filter((r) => r.role !== "AcrPush");
            assert.deepEqual(unlisted(assignments, noPush), [
                "the program gives the deployer AcrPush on the registry: add it to the README's roles table",
            ]);
        });

        it("a role on a narrower scope does not cover a wider one", async () => {
            const { types } = asks((await runs()).build);
            const rows = table().map((r) =>
                r.identity === "deployer" && r.role === "Contributor" ? { ...r, scope: "resource group" as Scope } : r,
            );
            assert.deepEqual(
                uncovered(types, rows, "deployer").map((p) => p.split(" ")[0]),
                ["azure-native:resources:ResourceGroup"],
            );
        });

        it("the roles as Azure defines them: what each grants and what it does not", () => {
            assert.ok(!grants("Contributor", "Microsoft.Authorization/roleAssignments/write"));
            assert.ok(grants("Contributor", "Microsoft.ContainerService/managedClusters/agentPools/write"));
            assert.ok(grants("Contributor", "Microsoft.ContainerRegistry/registries/push/write"));
            assert.ok(grants("Owner", "Microsoft.Authorization/roleAssignments/write"));
            assert.ok(grants("User Access Administrator", "Microsoft.Authorization/roleAssignments/write"));
            assert.ok(
                grants("Role Based Access Control Administrator", "Microsoft.Authorization/roleAssignments/write"),
            );
            assert.ok(
                !grants("Role Based Access Control Administrator", "Microsoft.ContainerRegistry/registries/write"),
            );
            assert.ok(grants("AcrPush", "Microsoft.ContainerRegistry/registries/push/write"));
            assert.ok(!grants("AcrPull", "Microsoft.ContainerRegistry/registries/push/write"));
            assert.ok(grants("Reader", "Microsoft.ContainerService/managedClusters/read"));
            assert.ok(!grants("Reader", "Microsoft.ContainerService/managedClusters/listClusterUserCredential/action"));
            assert.ok(
                grants(
                    "Azure Kubernetes Service Cluster User Role",
                    "Microsoft.ContainerService/managedClusters/listClusterUserCredential/action",
                ),
            );
        });
    });
});
