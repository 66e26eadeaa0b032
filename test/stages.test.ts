import { strict as assert } from "assert";
import {
    appObjects,
    KubernetesObject,
    MOCK_DEPLOYER,
    mockAcrRefreshToken,
    ProgramRun,
    RegisteredResource,
    UNKNOWN_ID,
} from "../mock/runProgram";
import { EXPECTED, inTrafficApi } from "./support/expected";
import { find, previewStage, runStage, runStageIn } from "./support/runs";
import { objectLabel } from "../mock/changes";
import { changeOrder, STAGE_NAMES } from "../stages/model";
import { TRAFFIC_APIS } from "../stages/traffic/router";

const kindName = (o: KubernetesObject) => objectLabel(o);
const k8sResources = (r: ProgramRun) => r.resources.filter((x) => x.type.startsWith("kubernetes:") && !x.read);

for (const api of TRAFFIC_APIS)
    describe(`each stage registers exactly the brief's objects${api === "istio" ? "" : ` (traffic.api=${api})`}`, () => {
        for (const [stage, expected] of Object.entries(EXPECTED)) {
            it(stage, async () => {
                const objects = appObjects(await runStageIn(api, stage));
                assert.deepEqual(objects.map(kindName).sort(), inTrafficApi(api, expected).sort());
            });
        }
    });

describe("traffic.api=gateway-api: the same stage table in Kubernetes Gateway API", () => {
    const gatewayApi = (stage: string, extra: Record<string, string> = {}) => runStageIn("gateway-api", stage, extra);
    const TRAFFIC_KINDS = ["Gateway", "DestinationRule", "VirtualService", "HTTPRoute"];
    const versionService = (o: KubernetesObject) => o.kind === "Service" && /-v\d+-\d+$/.test(o.metadata.name);
    const resourceOf = (r: ProgramRun, label: string) =>
        r.resources.find((x) => {
            const o = x.custom && !x.read ? appObjects({ ...r, resources: [x] })[0] : undefined;
            return o !== undefined && objectLabel(o) === label;
        })!;

    // The key fields above, held for istio stage by stage (labels and selectors, ports, probes,
    // volumes, passwords, mTLS, the order every client waits for its store), hold here by equality.
    it("every stage and weight: the same workloads, Services, volumes, Secret and mTLS as istio, waiting for the same things; only the traffic objects differ", async () => {
        for (const [stage, weight] of [...STAGE_NAMES.map((s) => [s, "0"]), ["canary", "30"]]) {
            const rest = (objects: KubernetesObject[]) =>
                objects.filter((o) => !TRAFFIC_KINDS.includes(o.kind) && !versionService(o));
            const [gw, istio] = [
                await gatewayApi(stage, { canaryWeight: weight }),
                await runStage(stage, { canaryWeight: weight }),
            ];
            assert.deepEqual(rest(appObjects(gw)), rest(appObjects(istio)), `${stage} at ${weight}`);
            // Dependencies among those objects (PeerAuthentication also waits for the version backends, whichever they are).
            const dependencies = (r: ProgramRun) => {
                const kept = new Set(rest(appObjects(r)).map((o) => resourceOf(r, objectLabel(o)).urn));
                return [...kept].map((urn) => [
                    urn,
                    r.resources
                        .find((x) => x.urn === urn)!
                        .dependencies.filter((d) => kept.has(d))
                        .sort(),
                ]);
            };
            assert.deepEqual(dependencies(gw), dependencies(istio), `${stage} at ${weight}: dependencies`);
        }
    });

    it("a Service per routed app and analytics version, selecting its app and version, HTTP on 8080", async () => {
        for (const stage of STAGE_NAMES) {
            const objects = appObjects(await gatewayApi(stage));
            const deployments = new Set(objects.filter((o) => o.kind === "Deployment").map((o) => o.metadata.name));
            for (const s of objects.filter(versionService)) {
                const [, component, major, minor] = /^(voting-app|voting-analytics)-v(\d+)-(\d+)$/.exec(
                    s.metadata.name,
                )!;
                const version = `${major}.${minor}`;
                assert.deepEqual(s.spec.selector, { app: component, version }, s.metadata.name);
                assert.ok(
                    deployments.has(`${component}-${major}-${minor}`),
                    `${stage}: ${s.metadata.name} selects no Deployment`,
                );
                assert.deepEqual(s.spec.ports, [
                    { name: "http", port: 8080, targetPort: 8080, protocol: "TCP", appProtocol: "http" },
                ]);
            }
        }
    });

    it("Gateway API objects are gateway.networking.k8s.io/v1; finalize's routes and Services name 2.0 only", async () => {
        for (const stage of STAGE_NAMES)
            for (const o of appObjects(await gatewayApi(stage)).filter((x) =>
                ["Gateway", "HTTPRoute"].includes(x.kind),
            ))
                assert.equal(o.apiVersion, "gateway.networking.k8s.io/v1", `${stage} ${o.kind}`);
        const finalize = appObjects(await gatewayApi("finalize"));
        const text = JSON.stringify(finalize.filter((o) => o.kind === "HTTPRoute" || versionService(o)));
        assert.doesNotMatch(text, /v1-0|v1-1|"1\.0"|"1\.1"/);
        assert.deepEqual(
            appObjects(await gatewayApi("update"))
                .filter((o) => o.kind === "HTTPRoute")
                .map((o) => o.metadata.name),
            ["voting-app"],
            "before lockdown, no route inside the mesh (Service round robin)",
        );
    });

    it("make before break in the dependencies: each HTTPRoute waits for the Service and the Deployment of every version it names; the ingress route moves last into an expanding stage, first into a contracting one", async () => {
        for (const stage of STAGE_NAMES) {
            const r = await gatewayApi(stage, { canaryWeight: "30" });
            const objects = appObjects(r);
            const routes = objects.filter((o) => o.kind === "HTTPRoute");
            for (const route of routes) {
                const deps = new Set(resourceOf(r, objectLabel(route)).dependencies);
                const refs = route.spec.rules.flatMap((rule: any) => rule.backendRefs.map((b: any) => b.name));
                for (const name of new Set<string>(refs)) {
                    const version = /-v(\d+)-(\d+)$/.exec(name);
                    if (!version) continue;
                    assert.ok(
                        deps.has(resourceOf(r, `Service/${name}`).urn),
                        `${stage}: ${route.metadata.name} before Service ${name}`,
                    );
                    const deployment = name.replace(/-v(\d+)-(\d+)$/, "-$1-$2");
                    assert.ok(
                        deps.has(resourceOf(r, `Deployment/${deployment}`).urn),
                        `${stage}: ${route.metadata.name} before Deployment ${deployment}`,
                    );
                }
            }
            const ingress = resourceOf(r, "HTTPRoute/voting-app");
            const mesh = routes.find((o) => o.metadata.name === "voting-analytics");
            if (!mesh) continue;
            const meshResource = resourceOf(r, "HTTPRoute/voting-analytics");
            if (changeOrder(stage as never) === "expand")
                assert.ok(ingress.dependencies.includes(meshResource.urn), stage);
            else assert.ok(meshResource.dependencies.includes(ingress.urn), stage);
        }
    });
});

describe("key fields", () => {
    it("namespace voting is labeled for sidecar injection", async () => {
        const ns = find(appObjects(await runStage("deploy")), "Namespace", "voting")!;
        assert.deepEqual(ns.metadata.labels, { "istio-injection": "enabled" });
    });

    it("with a managed mesh's revision (the AKS add-on), the namespace carries istio.io/rev and not istio-injection", async () => {
        const r = await runStage("deploy", {
            "istio.install": "false",
            "istio.revision": "asm-1-27",
            "istio.gatewayName": "aks-istio-ingressgateway-external",
            "istio.gatewayNamespace": "aks-istio-ingress",
        });
        // istio-injection=enabled would win over istio.io/rev, and the add-on's injector ignores it.
        assert.deepEqual(find(appObjects(r), "Namespace", "voting")!.metadata.labels, { "istio.io/rev": "asm-1-27" });
    });

    it("pods carry app and version labels, and each Deployment selects exactly its version", async () => {
        for (const stage of Object.keys(EXPECTED)) {
            for (const d of appObjects(await runStage(stage)).filter((o) => o.kind === "Deployment")) {
                const labels = d.spec.template.metadata.labels;
                const [component, version] = [labels.app, labels.version];
                assert.ok(component && version, `${d.metadata.name} pod labels ${JSON.stringify(labels)}`);
                assert.equal(d.metadata.name, `${component}-${version.replace(".", "-")}`);
                assert.deepEqual(d.spec.selector.matchLabels, { app: component, version });
            }
        }
    });

    it("voting-app 1.0 and 2.0 run 3 replicas by default, the rest 1; appReplicas changes the app", async () => {
        const replicas = (objects: KubernetesObject[]) =>
            Object.fromEntries(
                objects.filter((o) => o.kind === "Deployment").map((d) => [d.metadata.name, d.spec.replicas]),
            );
        assert.deepEqual(replicas(appObjects(await runStage("canary"))), {
            "voting-app-1-0": 3,
            "voting-app-2-0": 3,
            "voting-analytics-1-0": 1,
            "voting-analytics-1-1": 1,
            "voting-analytics-2-0": 1,
            "voting-storage-1-0": 1,
            "voting-storage-2-0": 1,
        });
        const five = replicas(appObjects(await runStage("canary", { appReplicas: "5" })));
        assert.equal(five["voting-app-1-0"], 5);
        assert.equal(five["voting-app-2-0"], 5);
        assert.equal(five["voting-analytics-1-1"], 1);
    });

    it("one Service per component selects on app only; every port declares its protocol", async () => {
        for (const stage of Object.keys(EXPECTED)) {
            for (const s of appObjects(await runStage(stage)).filter((o) => o.kind === "Service")) {
                assert.deepEqual(s.spec.selector, { app: s.metadata.name });
                for (const p of s.spec.ports) {
                    assert.equal(p.protocol, "TCP");
                    assert.ok(
                        ["http", "tcp"].includes(p.appProtocol),
                        `${s.metadata.name}:${p.port} appProtocol ${p.appProtocol}`,
                    );
                    assert.ok(
                        p.name.startsWith(p.appProtocol),
                        `${s.metadata.name}:${p.port} port name ${p.name} does not carry its protocol`,
                    );
                }
            }
        }
    });

    it("the storage Service exposes Redis and MySQL in every stage (it never changes; a port whose engine is not running has no endpoints)", async () => {
        for (const stage of Object.keys(EXPECTED)) {
            const service = find(appObjects(await runStage(stage)), "Service", "voting-storage")!;
            assert.deepEqual(
                service.spec.ports.map((p: any) => `${p.name}:${p.port}->${p.targetPort}`),
                ["tcp-redis:6379->redis", "tcp-mysql:3306->mysql"],
                stage,
            );
        }
    });

    it("every client of the store waits for the storage Service (its readiness checks the store)", async () => {
        for (const stage of Object.keys(EXPECTED)) {
            const r = await runStage(stage);
            const service = r.resources.find(
                (x) => x.type === "kubernetes:core/v1:Service" && x.name === "voting-storage",
            )!;
            for (const d of r.resources.filter(
                (x) => x.type === "kubernetes:apps/v1:Deployment" && !x.name.startsWith("voting-storage"),
            )) {
                assert.ok(
                    d.dependencies.includes(service.urn),
                    `${stage}: ${d.name} can start before the storage Service exists`,
                );
            }
        }
    });

    it("Istio objects use today's APIs", async () => {
        const objects = appObjects(await runStage("canary"));
        for (const o of objects.filter((x) => ["Gateway", "VirtualService", "DestinationRule"].includes(x.kind)))
            assert.equal(o.apiVersion, "networking.istio.io/v1");
        assert.equal(find(objects, "PeerAuthentication", "default")!.apiVersion, "security.istio.io/v1");
    });

    it("mTLS: STRICT PeerAuthentication and ISTIO_MUTUAL subsets from lockdown on, none before", async () => {
        for (const stage of ["deploy", "update"])
            assert.equal(find(appObjects(await runStage(stage)), "PeerAuthentication", "default"), undefined);
        for (const stage of ["lockdown", "canary", "finalize"]) {
            const objects = appObjects(await runStage(stage));
            assert.deepEqual(find(objects, "PeerAuthentication", "default")!.spec, { mtls: { mode: "STRICT" } });
            for (const dr of objects.filter((o) => o.kind === "DestinationRule")) {
                for (const subset of dr.spec.subsets)
                    assert.equal(subset.trafficPolicy.tls.mode, "ISTIO_MUTUAL", `${stage} ${dr.metadata.name}`);
            }
        }
    });

    it("finalize references 2.0 only", async () => {
        const objects = appObjects(await runStage("finalize"));
        const text = JSON.stringify(objects.filter((o) => o.kind === "DestinationRule" || o.kind === "VirtualService"));
        assert.doesNotMatch(text, /v1-0|v1-1|"1\.0"|"1\.1"/);
    });

    it("MySQL: credentials from the Secret as Pulumi secrets, data on the PVC (sub-directory), init script mounted, no --ignore-db-dir", async () => {
        const r = await runStage("canary");
        const objects = appObjects(r);
        const secret = r.resources.find(
            (x) => x.type === "kubernetes:core/v1:Secret" && x.name === "voting-storage-secret",
        )!;
        assert.ok(secret.secretInputs.includes("stringData"), `stringData sent in plain text: ${secret.secretInputs}`);
        assert.match(secret.inputs.stringData.MYSQL_PASSWORD, /^mock-mysql-password-/);
        const mysqlPod = find(objects, "Deployment", "voting-storage-2-0")!.spec.template.spec;
        const container = mysqlPod.containers[0];
        assert.doesNotMatch(JSON.stringify(container), /ignore-db-dir/);
        assert.equal(find(objects, "Deployment", "voting-storage-2-0")!.spec.strategy.type, "Recreate");
        for (const key of ["MYSQL_ROOT_PASSWORD", "MYSQL_PASSWORD", "MYSQL_USER", "MYSQL_DATABASE"]) {
            const env = container.env.find((e: any) => e.name === key);
            assert.equal(env.valueFrom.secretKeyRef.name, "voting-storage-secret", key);
        }
        const dataMount = container.volumeMounts.find((m: any) => m.mountPath === "/var/lib/mysql");
        assert.equal(dataMount.subPath, "mysql");
        const dataVolume = mysqlPod.volumes.find((v: any) => v.name === dataMount.name);
        assert.equal(dataVolume.persistentVolumeClaim.claimName, "voting-storage-mysql-data");
        const initMount = container.volumeMounts.find((m: any) => m.mountPath === "/docker-entrypoint-initdb.d");
        assert.equal(
            mysqlPod.volumes.find((v: any) => v.name === initMount.name).configMap.name,
            "voting-storage-mysql-init",
        );
        assert.match(
            find(objects, "ConfigMap", "voting-storage-mysql-init")!.data["init.sql"],
            /CREATE TABLE IF NOT EXISTS votes/,
        );
        for (const app of ["voting-app-2-0", "voting-analytics-2-0"]) {
            const env = find(objects, "Deployment", app)!.spec.template.spec.containers[0].env;
            assert.equal(
                env.find((e: any) => e.name === "MYSQL_PASSWORD").valueFrom.secretKeyRef.name,
                "voting-storage-secret",
            );
        }
    });

    it("passwords come from secret config when set, and stay secrets", async () => {
        const { runProgram } = await import("../mock/runProgram");
        const r = await runProgram(
            { stage: "canary" },
            { mysqlPassword: "from-config-1", mysqlRootPassword: "from-config-2" },
        );
        const secret = r.resources.find((x) => x.type === "kubernetes:core/v1:Secret")!;
        assert.equal(secret.inputs.stringData.MYSQL_PASSWORD, "from-config-1");
        assert.equal(secret.inputs.stringData.MYSQL_ROOT_PASSWORD, "from-config-2");
        assert.ok(secret.secretInputs.includes("stringData"));
        assert.deepEqual(
            r.resources
                .filter((x) => x.type.startsWith("random:") || x.type === "pulumi:providers:random")
                .map((x) => x.type),
            [],
            "no random provider is needed",
        );
    });

    it("generated passwords have no default value and exist in every stage (a kept volume keeps its password)", async () => {
        for (const stage of Object.keys(EXPECTED)) {
            const passwords = (await runStage(stage)).resources.filter(
                (x) => x.type === "random:index/randomPassword:RandomPassword",
            );
            assert.deepEqual(passwords.map((p) => p.name).sort(), ["mysql-password", "mysql-root-password"]);
            for (const p of passwords) assert.ok(p.inputs.length >= 20);
        }
    });

    it("the votes' two volumes are registered in every stage (a stage change never deletes or re-creates one) and protected", async () => {
        for (const stage of Object.keys(EXPECTED)) {
            const pvcs = (await runStage(stage)).resources.filter(
                (x) => x.type === "kubernetes:core/v1:PersistentVolumeClaim",
            );
            assert.deepEqual(
                pvcs.map((p) => [p.name, p.protect]).sort(),
                [
                    ["voting-storage-mysql-data", true],
                    ["voting-storage-redis-data", true],
                ],
                stage,
            );
        }
        const unprotected = (await runStage("canary", { "data.protect": "false" })).resources.filter(
            (x) => x.type === "kubernetes:core/v1:PersistentVolumeClaim",
        );
        assert.deepEqual(
            unprotected.map((p) => p.protect),
            [false, false],
            "data.protect=false lets `pulumi destroy` delete them",
        );
    });

    it("the storage Service's ports target the engines' container ports by name (the other engine is never an endpoint)", async () => {
        for (const stage of Object.keys(EXPECTED)) {
            const objects = appObjects(await runStage(stage));
            const service = find(objects, "Service", "voting-storage")!;
            for (const port of service.spec.ports) {
                assert.equal(
                    typeof port.targetPort,
                    "string",
                    `${stage}: port ${port.port} targets ${JSON.stringify(port.targetPort)}`,
                );
                const serving = objects
                    .filter((o) => o.kind === "Deployment" && o.spec.template.metadata.labels.app === "voting-storage")
                    .filter((d) =>
                        d.spec.template.spec.containers[0].ports.some((p: any) => p.name === port.targetPort),
                    );
                for (const d of serving) {
                    const containerPort = d.spec.template.spec.containers[0].ports.find(
                        (p: any) => p.name === port.targetPort,
                    );
                    assert.equal(
                        containerPort.containerPort,
                        port.port,
                        `${stage}: ${d.metadata.name} ${port.targetPort}`,
                    );
                    assert.match(d.spec.template.spec.containers[0].image, port.port === 6379 ? /redis/ : /mysql/);
                }
            }
        }
    });

    it("the stores get a startup probe: MySQL's first initialisation is not killed by its liveness probe", async () => {
        const objects = appObjects(await runStage("canary"));
        const budget = (probe: any) =>
            (probe.initialDelaySeconds ?? 0) + (probe.periodSeconds ?? 10) * (probe.failureThreshold ?? 3);
        for (const [name, atLeast] of [
            ["voting-storage-2-0", 300],
            ["voting-storage-1-0", 120],
        ] as const) {
            const c = find(objects, "Deployment", name)!.spec.template.spec.containers[0];
            assert.ok(c.startupProbe, `${name} has no startup probe`);
            assert.ok(
                budget(c.startupProbe) >= atLeast,
                `${name}: the startup probe allows ${budget(c.startupProbe)} s`,
            );
            assert.deepEqual(
                c.startupProbe.exec,
                c.livenessProbe.exec,
                `${name}: startup and liveness ask the same question`,
            );
            assert.equal(
                c.livenessProbe.initialDelaySeconds,
                undefined,
                `${name}: liveness starts after the startup probe, with no guessed delay`,
            );
        }
    });

    it("images.build=false: images come from images.registry and the per-version tags; never the deleted sample images", async () => {
        const r = await runStage("canary", {
            "images.build": "false",
            "images.registry": "myacr.azurecr.io/",
            "images.voting-app-2-0": "2.0.1",
        });
        assert.deepEqual(
            r.resources.filter((x) => /docker-build|containerregistry|RoleAssignment/.test(x.type)).map((x) => x.type),
            [],
        );
        const images = Object.fromEntries(
            appObjects(r)
                .filter((o) => o.kind === "Deployment")
                .map((d) => [d.metadata.name, d.spec.template.spec.containers[0].image]),
        );
        assert.deepEqual(images, {
            "voting-app-1-0": "myacr.azurecr.io/voting-app:1.0",
            "voting-app-2-0": "myacr.azurecr.io/voting-app:2.0.1",
            "voting-analytics-1-0": "myacr.azurecr.io/voting-analytics:1.0",
            "voting-analytics-1-1": "myacr.azurecr.io/voting-analytics:1.1",
            "voting-analytics-2-0": "myacr.azurecr.io/voting-analytics:2.0",
            "voting-storage-1-0": "docker.io/library/redis:7.4",
            "voting-storage-2-0": "docker.io/library/mysql:8.4",
        });
        for (const stage of Object.keys(EXPECTED))
            assert.doesNotMatch(JSON.stringify((await runStage(stage)).resources), /mcr\.microsoft\.com\/aks\/samples/);
    });

    it("app containers probe /healthz and /readyz and run non-root on a read-only root filesystem", async () => {
        for (const d of appObjects(await runStage("canary")).filter(
            (o) => o.kind === "Deployment" && !o.metadata.name.startsWith("voting-storage"),
        )) {
            const pod = d.spec.template.spec;
            const c = pod.containers[0];
            assert.equal(c.livenessProbe.httpGet.path, "/healthz");
            assert.equal(c.readinessProbe.httpGet.path, "/readyz");
            assert.equal(pod.securityContext.runAsNonRoot, true);
            assert.equal(c.securityContext.readOnlyRootFilesystem, true);
        }
    });
});

describe("images (aks mode builds them into its own registry)", () => {
    // Azure's built-in roles, by the GUIDs Azure gives them (docs: "Azure built-in roles", Containers).
    const ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d";
    const ACR_PUSH = "8311e382-0749-4cb8-b61a-304f252e45ec";
    const assignmentOf = (r: ProgramRun, roleId: string): RegisteredResource[] =>
        r.resources.filter(
            (x) =>
                x.type === "azure-native:authorization:RoleAssignment" &&
                String(x.inputs.roleDefinitionId).endsWith(`/roleDefinitions/${roleId}`),
        );

    it("an ACR with no admin user, the kubelet identity with AcrPull on it, the deployer with AcrPush, and one image per app/analytics version built from app/Dockerfile", async () => {
        const r = await runStage("canary");
        const registry = r.resources.find((x) => x.type === "azure-native:containerregistry:Registry")!;
        assert.equal(registry.inputs.sku.name, "Basic");
        assert.equal(registry.inputs.adminUserEnabled, false, "the registry's admin user is on");
        assert.equal(r.resources.filter((x) => x.type === "azure-native:authorization:RoleAssignment").length, 2);
        const [pull] = assignmentOf(r, ACR_PULL);
        assert.equal(
            pull.inputs.principalId,
            "00000000-0000-0000-0000-00000000c0de",
            "the kubelet identity of the cluster",
        );
        assert.equal(pull.inputs.principalType, "ServicePrincipal");
        assert.match(pull.inputs.scope, /\/registries\/votingacr1a2b3c$/);
        const [push] = assignmentOf(r, ACR_PUSH);
        assert.ok(push, "no AcrPush assignment");
        assert.equal(push.inputs.principalId, MOCK_DEPLOYER.objectId, "AcrPush goes to whoever runs pulumi up");
        assert.equal(push.inputs.principalType, undefined, "a user or a service principal: Azure finds which");
        assert.match(push.inputs.scope, /\/registries\/votingacr1a2b3c$/);
        const images = r.resources.filter((x) => x.type === "docker-build:index:Image");
        assert.deepEqual(images.map((i) => [i.name, i.inputs.buildArgs, i.inputs.tags]).sort(), [
            [
                "voting-analytics-1-0",
                { COMPONENT: "analytics", VERSION: "1.0" },
                ["votingacr1a2b3c.azurecr.io/voting-analytics:1.0"],
            ],
            [
                "voting-analytics-1-1",
                { COMPONENT: "analytics", VERSION: "1.1" },
                ["votingacr1a2b3c.azurecr.io/voting-analytics:1.1"],
            ],
            [
                "voting-analytics-2-0",
                { COMPONENT: "analytics", VERSION: "2.0" },
                ["votingacr1a2b3c.azurecr.io/voting-analytics:2.0"],
            ],
            ["voting-app-1-0", { COMPONENT: "app", VERSION: "1.0" }, ["votingacr1a2b3c.azurecr.io/voting-app:1.0"]],
            ["voting-app-2-0", { COMPONENT: "app", VERSION: "2.0" }, ["votingacr1a2b3c.azurecr.io/voting-app:2.0"]],
        ]);
        for (const i of images) {
            assert.deepEqual(
                [i.inputs.context.location, i.inputs.dockerfile.location, i.inputs.push, i.inputs.platforms],
                ["app", "app/Dockerfile", true, ["linux/amd64"]],
            );
            // docker-build builds during previews unless told not to: a preview builds nothing.
            assert.equal(i.inputs.buildOnPreview, false, `${i.name} would be built by every pulumi preview`);
            // The deployer's own Entra ID token, exchanged at the registry (the stand-in checks the
            // request) for an ACR refresh token: the password of the null-GUID user.
            assert.deepEqual(i.inputs.registries, [
                {
                    address: "votingacr1a2b3c.azurecr.io",
                    username: "00000000-0000-0000-0000-000000000000",
                    password: mockAcrRefreshToken("votingacr1a2b3c.azurecr.io"),
                },
            ]);
            assert.ok(
                i.secretInputs.some((p) => p.startsWith("registries")),
                `push credentials of ${i.name} are not secret`,
            );
            assert.ok(i.dependencies.includes(push.urn), `${i.name} is pushed without waiting for AcrPush`);
        }
        assert.ok(!r.invokes!.includes("azure-native:containerregistry:listRegistryCredentials"));
        assert.deepEqual(
            r.invokes!.filter((t) => t === "azure-native:authorization:getClientToken"),
            ["azure-native:authorization:getClientToken"],
            "one Entra ID token, exchanged once for all five images",
        );
    });

    it("a preview asks for no token and exchanges nothing; its images still wait for AcrPush", async () => {
        const r = await previewStage("canary");
        assert.deepEqual(
            r.invokes!.filter((t) => /getClientToken|listRegistryCredentials/.test(t)),
            [],
            "a preview got a token it does not need",
        );
        const [push] = assignmentOf(r, ACR_PUSH);
        const images = r.resources.filter((x) => x.type === "docker-build:index:Image");
        assert.equal(images.length, 5);
        for (const i of images) {
            assert.equal(i.inputs.buildOnPreview, false);
            assert.ok(i.dependencies.includes(push.urn), `${i.name} does not wait for AcrPush`);
            assert.doesNotMatch(JSON.stringify(i.inputs), /mock-acr-refresh-token/, `${i.name}: a token in a preview`);
        }
    });

    it("Deployments run the pushed images by digest and wait for the kubelet's pull access", async () => {
        const r = await runStage("canary");
        const [role] = assignmentOf(r, ACR_PULL);
        for (const d of r.resources.filter((x) => x.type === "kubernetes:apps/v1:Deployment")) {
            const image: string = d.inputs.spec.template.spec.containers[0].image;
            if (d.name.startsWith("voting-storage")) assert.match(image, /^docker\.io\/library\/(redis|mysql):/);
            else
                assert.match(
                    image,
                    new RegExp(
                        `^votingacr1a2b3c\\.azurecr\\.io/${d.name.replace(/-\d-\d$/, "")}:\\d\\.\\d@sha256:[0-9a-f]{64}$`,
                    ),
                    d.name,
                );
            assert.ok(d.dependencies.includes(role.urn), `${d.name} does not wait for AcrPull`);
        }
    });

    it("kubeconfig mode builds and pushes to images.registry, with no Azure resource", async () => {
        const r = await runStage("deploy", { "cluster.mode": "kubeconfig", "images.registry": "localhost:5001" });
        assert.deepEqual(
            r.resources.filter((x) => x.type.includes("azure")).map((x) => x.type),
            [],
        );
        const images = r.resources.filter((x) => x.type === "docker-build:index:Image");
        assert.equal(images.length, 5);
        for (const i of images) assert.deepEqual(i.inputs.registries, [], "no credentials for a local registry");
        const app = appObjects(r).find((o) => o.kind === "Deployment" && o.metadata.name === "voting-app-1-0")!;
        assert.match(app.spec.template.spec.containers[0].image, /^localhost:5001\/voting-app:1\.0@sha256:/);
    });
});

describe("cluster", () => {
    it("aks mode: a resource group and an RBAC-enabled AKS cluster with a system-assigned identity, a system pool and a configurable workload pool", async () => {
        const r = await runStage("deploy");
        assert.equal(r.resources.filter((x) => x.type === "azure-native:resources:ResourceGroup").length, 1);
        const aks = r.resources.find((x) => x.type === "azure-native:containerservice:ManagedCluster")!;
        assert.equal(aks.inputs.enableRBAC, true);
        assert.equal(aks.inputs.identity.type, "SystemAssigned");
        assert.equal(aks.inputs.kubernetesVersion, undefined, "AKS's default version unless configured");
        const [system] = aks.inputs.agentPoolProfiles;
        assert.deepEqual(
            [system.name, system.mode, system.count, system.vmSize, system.nodeTaints],
            ["system", "System", 1, "Standard_D2s_v5", ["CriticalAddonsOnly=true:NoSchedule"]],
        );
        const pool = r.resources.find((x) => x.type === "azure-native:containerservice:AgentPool")!;
        assert.deepEqual(
            [pool.inputs.mode, pool.inputs.count, pool.inputs.vmSize, pool.inputs.enableAutoScaling],
            ["User", 2, "Standard_D2s_v5", true],
        );
        assert.deepEqual([pool.inputs.minCount, pool.inputs.maxCount], [2, 5]);
        const custom = await runStage("deploy", {
            "cluster.nodeCount": "4",
            "cluster.nodeVmSize": "Standard_D4s_v5",
            "cluster.maxNodeCount": "6",
            "cluster.kubernetesVersion": "1.33",
        });
        const aks2 = custom.resources.find((x) => x.type === "azure-native:containerservice:ManagedCluster")!;
        const pool2 = custom.resources.find((x) => x.type === "azure-native:containerservice:AgentPool")!;
        assert.deepEqual(
            [
                pool2.inputs.count,
                pool2.inputs.vmSize,
                pool2.inputs.maxCount,
                pool2.inputs.orchestratorVersion,
                aks2.inputs.kubernetesVersion,
            ],
            [4, "Standard_D4s_v5", 6, "1.33", "1.33"],
        );
        assert.ok(
            aks.provider.includes("pulumi:providers:azure-native::azure"),
            `ManagedCluster provider ${aks.provider}`,
        );
    });

    it("aks mode: the cluster's user kubeconfig, as a secret, feeds the one Kubernetes provider every Kubernetes resource uses", async () => {
        const r = await runStage("deploy");
        const providers = r.resources.filter((x) => x.type === "pulumi:providers:kubernetes");
        assert.equal(providers.length, 1);
        assert.ok(providers[0].secretInputs.includes("kubeconfig"));
        for (const k of k8sResources(r))
            assert.ok(k.provider.startsWith(providers[0].urn), `${k.type} ${k.name} uses ${k.provider}`);
        assert.ok(r.secretOutputs.includes("kubeconfig"));
    });

    it("kubeconfig mode registers no Azure resource and uses the given kubeconfig and context", async () => {
        const r = await runStage("deploy", {
            "cluster.mode": "kubeconfig",
            "cluster.kubeconfig": "/tmp/kind.yaml",
            "cluster.context": "kind-voting",
        });
        assert.deepEqual(
            r.resources.filter((x) => x.type.includes("azure")).map((x) => x.type),
            [],
        );
        const provider = r.resources.find((x) => x.type === "pulumi:providers:kubernetes")!;
        assert.equal(provider.inputs.kubeconfig, "/tmp/kind.yaml");
        assert.equal(provider.inputs.context, "kind-voting");
        assert.equal(r.outputs.kubeconfig, undefined);
    });
});

describe("Istio from Helm", () => {
    const releases = (r: ProgramRun) => r.resources.filter((x) => x.type === "kubernetes:helm.sh/v3:Release");
    it("base, istiod and gateway from Istio's chart repository at the configured version", async () => {
        const r = await runStage("deploy", { "istio.version": "1.31.2" });
        assert.deepEqual(
            releases(r).map((x) => [x.inputs.chart, x.inputs.version, x.inputs.repositoryOpts.repo]),
            [
                ["base", "1.31.2", "https://blob.istio.io/istio-release/charts"],
                ["istiod", "1.31.2", "https://blob.istio.io/istio-release/charts"],
                ["gateway", "1.31.2", "https://blob.istio.io/istio-release/charts"],
            ],
        );
        assert.deepEqual(
            releases(await runStage("deploy")).map((x) => x.inputs.version),
            ["1.31.4", "1.31.4", "1.31.4"],
        );
    });

    it("ordered: CRDs before istiod, istiod before the gateway, the app namespace and every Istio object", async () => {
        const r = await runStage("canary");
        const urn = (chart: string) => releases(r).find((x) => x.inputs.chart === chart)!.urn;
        const deps = (x: { dependencies: string[] }) => new Set(x.dependencies);
        const istiod = releases(r).find((x) => x.inputs.chart === "istiod")!;
        const gateway = releases(r).find((x) => x.inputs.chart === "gateway")!;
        assert.ok(deps(istiod).has(urn("base")));
        const gatewayNs = r.resources.find(
            (x) => x.type === "kubernetes:core/v1:Namespace" && x.inputs.metadata.name === "istio-ingress",
        )!;
        assert.ok(
            deps(gateway).has(urn("istiod")) ||
                (deps(gateway).has(gatewayNs.urn) && deps(gatewayNs).has(urn("istiod"))),
        );
        const ns = r.resources.find(
            (x) => x.type === "kubernetes:core/v1:Namespace" && x.inputs.metadata.name === "voting",
        )!;
        assert.ok(deps(ns).has(urn("istiod")), "the app namespace (and so every injected pod) waits for istiod");
        for (const o of r.resources.filter((x) => /istio\.io/.test(x.type))) {
            assert.ok(
                deps(o).has(urn("base")) && deps(o).has(urn("istiod")),
                `${o.type} ${o.name} does not wait for Istio`,
            );
        }
    });

    it("aks mode: the gateway Service is a LoadBalancer whose Azure health probe targets the readiness endpoint", async () => {
        const gateway = releases(await runStage("deploy")).find((x) => x.inputs.chart === "gateway")!;
        const service = gateway.inputs.values.service;
        assert.equal(service.type, "LoadBalancer");
        assert.equal(
            service.annotations["service.beta.kubernetes.io/azure-load-balancer-health-probe-request-path"],
            "/healthz/ready",
        );
        assert.equal(service.annotations["service.beta.kubernetes.io/port_80_health-probe_port"], "15021");
        assert.equal(
            service.annotations["service.beta.kubernetes.io/port_80_health-probe_request-path"],
            "/healthz/ready",
        );
        const kind = releases(await runStage("deploy", { "cluster.mode": "kubeconfig" })).find(
            (x) => x.inputs.chart === "gateway",
        )!;
        assert.deepEqual(kind.inputs.values.service.annotations, {}, "no Azure annotations off Azure");
    });

    it("istio.values: each chart's extra values merge over the program's own (objects key by key, the rest replaced)", async () => {
        const structured = await runStage("deploy", {
            "istio.values.istiod.istiodRemote.injectionURL": "https://localhost:15017/inject",
            "istio.values.istiod.resources.requests.cpu": "250m",
            "istio.values.base.base.validationURL": "https://localhost:15017/validate",
        });
        const values = (chart: string) => releases(structured).find((x) => x.inputs.chart === chart)!.inputs.values;
        assert.deepEqual(values("istiod"), {
            resources: { requests: { cpu: "250m", memory: "2048Mi" } },
            istiodRemote: { injectionURL: "https://localhost:15017/inject" },
        });
        assert.deepEqual(values("base"), {
            defaultRevision: "default",
            base: { validationURL: "https://localhost:15017/validate" },
        });
        assert.equal(values("gateway").service.type, "LoadBalancer");
        // The same as a JSON string; an array replaces, it does not merge.
        const json = await runStage("deploy", {
            "istio.values": JSON.stringify({
                gateway: { labels: { istio: "edge" }, service: { ports: [{ name: "http2", port: 80 }] } },
            }),
        });
        const gateway = releases(json).find((x) => x.inputs.chart === "gateway")!;
        assert.deepEqual(gateway.inputs.values.service.ports, [{ name: "http2", port: 80 }]);
        assert.equal(gateway.inputs.values.service.type, "LoadBalancer");
        // The Gateway's selector follows the chart's labels value, as the chart's own pods do.
        const gatewayObject = json.resources.find((x) => x.type === "kubernetes:networking.istio.io/v1:Gateway")!;
        assert.deepEqual(gatewayObject.inputs.spec.selector, { istio: "edge" });
    });

    it("no Helm value is null (provider 4.30 stopped stripping nulls: a null would now delete a chart default)", async () => {
        const nulls = (value: unknown, at: string): string[] =>
            value === null
                ? [at]
                : typeof value === "object"
                  ? Object.entries(value as object).flatMap(([k, v]) => nulls(v, `${at}.${k}`))
                  : [];
        for (const mode of ["aks", "kubeconfig"]) {
            for (const release of releases(await runStage("canary", { "cluster.mode": mode }))) {
                assert.deepEqual(
                    nulls(release.inputs.values ?? {}, release.inputs.chart),
                    [],
                    `${mode}: ${release.inputs.chart}`,
                );
            }
        }
    });

    it("istio.gatewayServiceType: NodePort or ClusterIP where no load-balancer controller runs (plain kind)", async () => {
        for (const type of ["NodePort", "ClusterIP"]) {
            const gateway = releases(
                await runStage("deploy", { "cluster.mode": "kubeconfig", "istio.gatewayServiceType": type }),
            ).find((x) => x.inputs.chart === "gateway")!;
            assert.equal(gateway.inputs.values.service.type, type);
        }
        const aks = releases(await runStage("deploy", { "istio.gatewayServiceType": "NodePort" })).find(
            (x) => x.inputs.chart === "gateway",
        )!;
        assert.deepEqual(
            aks.inputs.values.service,
            { type: "NodePort", annotations: {} },
            "the Azure load balancer's probe annotations only go on a LoadBalancer",
        );
    });

    it("the first preview, with nothing installed, plans the gateway Service read instead of reading a Service that is not there", async () => {
        for (const mode of ["kubeconfig", "aks"]) {
            const r = await previewStage("deploy", { "cluster.mode": mode });
            const read = r.resources.find((x) => x.read && x.type === "kubernetes:core/v1:Service")!;
            const gateway = releases(r).find((x) => x.inputs.chart === "gateway")!;
            assert.equal(
                read.id,
                UNKNOWN_ID,
                `${mode}: the read's ID is known before the gateway release exists (${read.id}), so the engine reads it during preview`,
            );
            assert.ok(
                read.dependencies.includes(gateway.urn),
                `${mode}: the read does not wait for the gateway release`,
            );
        }
        // Once installed, the ID is the release's own Service.
        const installed = (await runStage("deploy", { "istio.gatewayName": "voting-ingress" })).resources.find(
            (x) => x.read,
        )!;
        assert.equal(installed.id, "istio-ingress/voting-ingress");
        // A pre-installed gateway is read by the name the settings give.
        const preinstalled = (
            await previewStage("deploy", {
                "istio.install": "false",
                "istio.gatewayNamespace": "aks-istio-ingress",
                "istio.gatewayName": "aks-istio-ingressgateway-external",
            })
        ).resources.find((x) => x.read)!;
        assert.equal(preinstalled.id, "aks-istio-ingress/aks-istio-ingressgateway-external");
    });

    it("istio.install=false installs nothing and still selects the named gateway's pods", async () => {
        const r = await runStage("deploy", {
            "istio.install": "false",
            "istio.gatewayName": "aks-istio-ingressgateway-external",
            "istio.gatewayNamespace": "aks-istio-ingress",
        });
        assert.deepEqual(releases(r), []);
        assert.deepEqual(find(appObjects(r), "Gateway", "voting-app-gateway")!.spec.selector, {
            istio: "aks-istio-ingressgateway-external",
        });
        const read = r.resources.find((x) => x.read)!;
        assert.equal(read.type, "kubernetes:core/v1:Service");
    });
});

describe("stack outputs", () => {
    it("stage, ingress IP and URL from the gateway Service, the version serving each component", async () => {
        const r = await runStage("canary", { canaryWeight: "20" });
        assert.equal(r.outputs.stage, "canary");
        assert.equal(r.outputs.stageNumber, 4);
        assert.equal(r.outputs.canaryWeight, 20);
        assert.equal(r.outputs.ingressIp, "203.0.113.10");
        assert.equal(r.outputs.ingressUrl, "http://203.0.113.10/");
        assert.deepEqual(r.outputs.versions, {
            withoutFeatureFlag: {
                "voting-app": "1.0, 2.0",
                "voting-analytics": "1.1, 2.0",
                "voting-storage": "1.0 (redis), 2.0 (mysql)",
            },
            withFeatureFlag: { "voting-app": "2.0", "voting-analytics": "2.0", "voting-storage": "2.0 (mysql)" },
        });
        const read = r.resources.find((x) => x.read && x.type === "kubernetes:core/v1:Service")!;
        assert.equal(read.name, "istio-ingress-service");
        // aks mode: the pool the app runs on, by its AKS name (it changes with cluster.nodeVmSize).
        const pool = r.resources.find((x) => x.type === "azure-native:containerservice:AgentPool")!;
        assert.equal(r.outputs.workloadPool, pool.inputs.agentPoolName);
        const update = await runStage("update");
        assert.deepEqual((update.outputs.versions as any).withoutFeatureFlag, {
            "voting-app": "1.0",
            "voting-analytics": "1.0, 1.1",
            "voting-storage": "1.0 (redis)",
        });
        assert.equal(update.outputs.canaryWeight, 0, "the weight only applies to the canary stage");
    });
});

describe("components take standard options: providers reach every child through `providers`", () => {
    for (const mode of ["aks", "kubeconfig"]) {
        it(`${mode} mode: every resource uses one of the program's explicit providers, none a default provider`, async () => {
            const r = await runStage("canary", { "cluster.mode": mode });
            const explicit = new Set(
                r.resources.filter((x) => x.type.startsWith("pulumi:providers:")).map((x) => x.urn),
            );
            for (const x of r.resources.filter((x) => x.custom && !x.type.startsWith("pulumi:providers:"))) {
                const urn = x.provider.replace(/::[^:]*$/, "");
                assert.ok(explicit.has(urn), `${x.type} ${x.name} uses ${x.provider || "a default provider"}`);
                assert.doesNotMatch(
                    x.provider,
                    /::default(_[0-9_]+)?::/,
                    `${x.type} ${x.name} uses a default provider`,
                );
            }
        });
    }
});
