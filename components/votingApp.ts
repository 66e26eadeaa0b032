import * as fs from "fs";
import * as path from "path";
import * as k8s from "@pulumi/kubernetes";
import * as kx from "@pulumi/kubernetesx";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import {
    ALLOW_NOTHING,
    allowedCalls,
    allowPolicyName,
    allowPolicySpec,
    Caller,
    callerName,
    GatewayIdentity,
    serviceAccountOf,
} from "../stages/authorization";
import { CONTAINER_REQUESTS } from "../stages/capacity";
import { injectionLabels } from "../stages/istioCharts";
import { peerAuthenticationSpec } from "../stages/meshManifests";
import {
    Component,
    STORAGE_ENGINES,
    STORAGE_VERSIONS,
    StagePlan,
    storageFor,
    Version,
    voteCarry,
    VoteCarry,
    WorkloadRef,
} from "../stages/model";
import {
    APP_NAMESPACE,
    APP_PORT,
    CARRY_VOTES,
    carryJobName,
    MYSQL_DATABASE,
    MYSQL_USER,
    workloadName,
} from "../stages/names";
import { TrafficNamespaces, TrafficObject, TrafficRoute, TrafficRouter } from "../stages/traffic";

/** The two candidates of the vote (the app's VOTE1VALUE / VOTE2VALUE): the app, analytics and the carry count them. */
const CANDIDATES = { VOTE1VALUE: "Cats", VOTE2VALUE: "Dogs" };

/** The schema and first rows of the votes database, run by MySQL at its first start. */
const MYSQL_INIT_SQL = path.join(__dirname, "..", "app", "sql", "init.sql");

export interface VotingAppArgs {
    plan: StagePlan;
    appReplicas: number;
    /** Image per Deployment name (voting-app-1-0, voting-storage-2-0, ...). */
    images: Record<string, pulumi.Input<string>>;
    /** Deployments wait for these (e.g. the kubelet's AcrPull role assignment). */
    imagePullReady: pulumi.Resource[];
    /** The traffic API's router (traffic.api): the gateway binding, version backends and routes it asks for. */
    router: TrafficRouter;
    /** Gateway API's GatewayClass (traffic.gatewayClass). */
    gatewayClassName: string;
    /** Labels of the ingress gateway pods (derived from the gateway release). */
    gatewaySelector: pulumi.Input<Record<string, string>>;
    /** The ingress gateway's Service (made by the gateway release). */
    gatewayService: pulumi.Input<{ name: string; namespace: string }>;
    /** The ingress gateway's namespace (istio.gatewayNamespace): Gateway API's Gateway lives there. */
    gatewayNamespace: string;
    /** The ingress gateway's mTLS identity: the one caller from outside the namespace its policies let in. */
    gatewayIdentity: pulumi.Input<GatewayIdentity>;
    /** Deny by default, and allow each stage's own calls (traffic.authorization). */
    authorization: boolean;
    /** Istio must be ready (CRDs, istiod for injection) before the namespace's objects. */
    meshReady: pulumi.Input<pulumi.Resource>[];
    /** The traffic API's own CRDs, when the program installs them (Gateway API's). */
    trafficApiReady: pulumi.Resource[];
    /** Istio revision that injects the app's sidecars (istio.io/rev); none: istio-injection=enabled. */
    istioRevision?: string;
    /** Pulumi `protect` on the votes' volumes. */
    protectVotes: boolean;
    /** MySQL credentials from secret config; generated when absent. */
    mysqlPassword?: pulumi.Output<string>;
    mysqlRootPassword?: pulumi.Output<string>;
}

/**
 * The voting app at one stage of the rollout: namespace, workloads per version, Services,
 * MySQL Secret/PVC/init script, and the traffic API's objects (its router's): the gateway binding,
 * (from lockdown on) a backend per routed version (DestinationRule fragments, or Services), the
 * routes, and STRICT mTLS.
 */
export class VotingApp extends pulumi.ComponentResource {
    public readonly namespace: pulumi.Output<string>;
    public readonly deployments: pulumi.Output<string[]>;
    /** The per-version backends: DestinationRule fragments (istio) or Services (gateway-api). */
    public readonly versionBackends: pulumi.Output<string[]>;
    /** The routes: VirtualServices (istio) or HTTPRoutes (gateway-api), the ingress route first. */
    public readonly routes: pulumi.Output<string[]>;

    /**
     * @param name logical name; children are named after it
     * @param args the stage plan, images, the mesh it joins and the votes' settings
     * @param opts standard component options: give the Kubernetes provider, and the random
     *   provider when a password is to be generated, through `providers`
     */
    constructor(name: string, args: VotingAppArgs, opts?: pulumi.ComponentResourceOptions) {
        super("voting:app:VotingApp", name, {}, opts);
        const { plan } = args;
        const k8sOpts = { parent: this };

        const namespace = new k8s.core.v1.Namespace(
            "voting",
            {
                metadata: { name: APP_NAMESPACE, labels: injectionLabels(args.istioRevision) },
            },
            { ...k8sOpts, dependsOn: args.meshReady },
        );
        const ns = namespace.metadata.name;
        const meta = (objectName: string, labels?: Record<string, string>) => ({
            name: objectName,
            namespace: ns,
            labels,
        });

        // Credentials are registered in every stage, so a MySQL volume kept across a rollback
        // and a later canary still opens with the same password.
        const password = (key: string, given?: pulumi.Output<string>) => {
            if (given) return given;
            return new random.RandomPassword(key, { length: 24, special: false }, { parent: this }).result;
        };
        const mysqlPassword = password("mysql-password", args.mysqlPassword);
        const mysqlRootPassword = password("mysql-root-password", args.mysqlRootPassword);

        const runs = (component: Component, version: Version) =>
            plan.workloads.some((wl) => wl.component === component && wl.version === version);
        const mysqlRuns = runs("voting-storage", "2.0");

        // The votes' volumes exist in every stage, whether or not a stage runs their store: no
        // stage change, forward or back, deletes or re-creates them (a re-create of a claim that
        // is still in the cluster fails with AlreadyExists from Kubernetes provider 4.29 on), so
        // Redis's votes are there again when a rollback from finalize brings Redis back, and
        // MySQL's when canary comes back after a rollback. `protect` keeps `pulumi destroy` from
        // deleting them (and the namespace, which would take them along) unless the stack says so.
        const volumeOpts = { ...k8sOpts, protect: args.protectVotes };
        const redisData = new kx.PersistentVolumeClaim(
            "voting-storage-redis-data",
            {
                metadata: meta("voting-storage-redis-data", { app: "voting-storage", version: "1.0" }),
                spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
            },
            volumeOpts,
        );
        const mysqlData = new kx.PersistentVolumeClaim(
            "voting-storage-mysql-data",
            {
                metadata: meta("voting-storage-mysql-data", { app: "voting-storage", version: "2.0" }),
                spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "5Gi" } } },
            },
            volumeOpts,
        );
        let mysqlSecret: kx.Secret | undefined;
        let mysqlInit: kx.ConfigMap | undefined;
        if (mysqlRuns) {
            mysqlSecret = new kx.Secret(
                "voting-storage-secret",
                {
                    metadata: meta("voting-storage-secret", { app: "voting-storage" }),
                    stringData: {
                        MYSQL_USER: MYSQL_USER,
                        MYSQL_DATABASE: MYSQL_DATABASE,
                        MYSQL_PASSWORD: mysqlPassword,
                        MYSQL_ROOT_PASSWORD: mysqlRootPassword,
                    },
                },
                k8sOpts,
            );
            mysqlInit = new kx.ConfigMap(
                "voting-storage-mysql-init",
                {
                    metadata: meta("voting-storage-mysql-init", { app: "voting-storage", version: "2.0" }),
                    data: { "init.sql": fs.readFileSync(MYSQL_INIT_SQL, "utf8") },
                },
                k8sOpts,
            );
        }

        // Services: one per component, selecting on `app` only, every port's protocol declared.
        const httpService = (component: Component) =>
            new kx.Service(
                component,
                {
                    metadata: meta(component, { app: component }),
                    spec: {
                        selector: { app: component },
                        ports: [
                            {
                                name: "http",
                                port: APP_PORT,
                                targetPort: APP_PORT,
                                protocol: "TCP",
                                appProtocol: "http",
                            },
                        ],
                    },
                },
                k8sOpts,
            );
        httpService("voting-app");
        httpService("voting-analytics");
        // The storage Service exposes every engine's port in every stage (a port whose engine does
        // not run has no endpoints), so it never changes: no stage change can take a port away
        // from a client still running, nor start a client before its port exists. Named target
        // ports: Kubernetes gives a port only the endpoints of pods that declare a container port
        // of that name, so whatever reaches the plain Service (a client no TCP route matches, a
        // readiness check) on 6379 reaches Redis and on 3306 MySQL, never the other engine that
        // the `app` selector also selects.
        const storageService = new kx.Service(
            "voting-storage",
            {
                metadata: meta("voting-storage", { app: "voting-storage" }),
                spec: {
                    selector: { app: "voting-storage" },
                    ports: STORAGE_VERSIONS.map((version) => {
                        const { port, portName, containerPortName } = STORAGE_ENGINES[version];
                        return {
                            name: portName,
                            port,
                            targetPort: containerPortName,
                            protocol: "TCP",
                            appProtocol: "tcp",
                        };
                    }),
                },
            },
            k8sOpts,
        );

        // Who may call whom (stages/authorization.ts) ---------------------------------------
        // One AuthorizationPolicy per call the stage makes, registered before whatever starts the
        // call (the caller's and the callee's Deployments, the ingress route, the carry Job depend
        // on it); the namespace's deny by default after the workloads, below. Deletes run last,
        // each after what depended on it.
        const allowsBy = new Map<string, pulumi.CustomResource[]>();
        const allowsInto = new Map<string, pulumi.CustomResource[]>();
        const allowsOf = (caller: Caller) => allowsBy.get(callerName(caller)) ?? [];
        const policy = (policyName: string, spec: pulumi.Input<object>, dependsOn: pulumi.Resource[]) =>
            new k8s.apiextensions.CustomResource(
                `${policyName}-authorizationpolicy`,
                {
                    apiVersion: "security.istio.io/v1",
                    kind: "AuthorizationPolicy",
                    metadata: meta(policyName),
                    spec,
                },
                { ...k8sOpts, dependsOn: [...args.meshReady, ...dependsOn] },
            );
        const allows = !args.authorization
            ? []
            : allowedCalls(plan).map((call) => {
                  const spec = pulumi
                      .output(args.gatewayIdentity)
                      .apply((gateway) => allowPolicySpec(call, APP_NAMESPACE, gateway));
                  const allow = policy(allowPolicyName(call), spec, []);
                  const caller = callerName(call.from);
                  allowsBy.set(caller, [...(allowsBy.get(caller) ?? []), allow]);
                  const callee = workloadName(call.to);
                  allowsInto.set(callee, [...(allowsInto.get(callee) ?? []), allow]);
                  return allow;
              });

        // Workloads ----------------------------------------------------------------------
        // Stores first. Their clients wait for the store they use (its Service and its ready
        // pods): a client's readiness checks its store, and a Deployment's create finishes only
        // when its pods are ready.
        const deployments = new Map<string, kx.Deployment>();
        const storesFirst = [...plan.workloads].sort(
            (a, b) => Number(b.component === "voting-storage") - Number(a.component === "voting-storage"),
        );
        // Votes carried from Redis to MySQL (stages/model.ts, voteCarry): where both stores run, the
        // carry seeds MySQL once both are up and before any client of MySQL starts.
        const carry = voteCarry(plan.stage);
        let seedJob: k8s.batch.v1.Job | undefined;
        const carryAccount = carry ? this.serviceAccount(CARRY_VOTES, { app: CARRY_VOTES }, meta) : undefined;
        const carryJob = (dependsOn: pulumi.Input<pulumi.Resource>[]) =>
            this.carryJob(plan.stage.name, carry!, meta, args.images, mysqlSecret!, carryAccount!, {
                ...k8sOpts,
                dependsOn: [...dependsOn, ...allowsOf({ carryVotes: true })],
            });
        for (const ref of storesFirst) {
            if (carry === "seed" && ref.component !== "voting-storage" && !seedJob) {
                seedJob = carryJob([
                    storageService,
                    ...STORAGE_VERSIONS.map((version) => deployments.get(`voting-storage@${version}`)!),
                ]);
            }
            const labels = { app: ref.component, version: ref.version };
            const account = this.serviceAccount(serviceAccountOf(ref), labels, meta);
            const podSpec = {
                ...this.podSpec(ref, args, { redisData, mysqlSecret, mysqlData, mysqlInit }),
                serviceAccountName: account.metadata.name,
            };
            const deploymentName = workloadName(ref);
            const storeVersion =
                ref.component === "voting-storage" ? undefined : storageFor(ref.component, ref.version);
            const itsStore = storeVersion
                ? [
                      storageService,
                      deployments.get(`voting-storage@${storeVersion}`)!,
                      // MySQL's clients start once it holds every vote Redis had.
                      ...(seedJob && storeVersion === "2.0" ? [seedJob] : []),
                  ]
                : [];
            const replicas = ref.component === "voting-app" ? args.appReplicas : 1;
            const deployment = new kx.Deployment(
                deploymentName,
                {
                    metadata: meta(deploymentName, labels),
                    spec: {
                        replicas,
                        selector: { matchLabels: labels },
                        // Storage holds a ReadWriteOnce volume: the old pod must go before the new one mounts it.
                        strategy: ref.component === "voting-storage" ? { type: "Recreate" } : undefined,
                        template: { metadata: { labels }, spec: podSpec },
                    },
                },
                // Its own calls, and the calls to it, are allowed before it starts: a client calls its store
                // to be ready, and a Service's round robin sends calls to a new version's pods at once.
                {
                    ...k8sOpts,
                    dependsOn: [
                        ...args.imagePullReady,
                        ...itsStore,
                        ...allowsOf({ workload: ref }),
                        ...(allowsInto.get(deploymentName) ?? []),
                    ],
                },
            );
            deployments.set(`${ref.component}@${ref.version}`, deployment);
            // A node drain (an AKS upgrade, a node pool replaced) takes one replica at a time.
            if (replicas > 1) {
                new k8s.policy.v1.PodDisruptionBudget(
                    deploymentName,
                    {
                        metadata: meta(deploymentName, labels),
                        spec: { maxUnavailable: 1, selector: { matchLabels: labels } },
                    },
                    { ...k8sOpts, dependsOn: [deployment] },
                );
            }
        }

        // Deny by default once every allow exists and every Deployment runs under its own identity
        // (turning it on for a live stack restarts each Deployment under its ServiceAccount first).
        if (args.authorization) policy(ALLOW_NOTHING, {}, [...allows, ...deployments.values()]);

        // Traffic objects (the router's) ----------------------------------------------------------
        const { router } = args;
        const trafficOpts = { ...k8sOpts, dependsOn: [...args.meshReady, ...args.trafficApiReady] };
        // Pulumi names: the object's name, routes suffixed by their kind (voting-app-virtualservice,
        // voting-app-httproute), Services by "-service" beside the component's own Service.
        const namespaces: TrafficNamespaces = { app: APP_NAMESPACE, gateway: args.gatewayNamespace };
        const register = (
            object: TrafficObject,
            dependsOn: pulumi.Input<pulumi.Resource>[],
            namespace: pulumi.Input<string> = ns,
        ) => {
            const opts = { ...trafficOpts, dependsOn: [...trafficOpts.dependsOn, ...dependsOn] };
            const metadata = { ...meta(object.name, object.labels), namespace };
            if (object.apiVersion === "v1" && object.kind === "Service")
                return new k8s.core.v1.Service(`${object.name}-service`, { metadata, spec: object.spec }, opts);
            const resourceName = ["Gateway", "DestinationRule"].includes(object.kind)
                ? object.name
                : `${object.name}-${object.kind.toLowerCase()}`;
            return new k8s.apiextensions.CustomResource(
                resourceName,
                { apiVersion: object.apiVersion, kind: object.kind, metadata, spec: object.spec },
                opts,
            );
        };
        const ingress = {
            podSelector: args.gatewaySelector,
            service: args.gatewayService,
            gatewayClassName: args.gatewayClassName,
            appNamespace: APP_NAMESPACE,
        };
        const { reads, spec: gatewaySpec, namespace: gatewayIn, ...gatewayObject } = router.gateway;
        const read = Object.fromEntries(reads.map((key) => [key, ingress[key]]));
        const gateway = register(
            {
                ...gatewayObject,
                spec: pulumi.output(read).apply(gatewaySpec) as unknown as Record<string, unknown>,
            },
            [],
            gatewayIn === "app" ? ns : namespaces.gateway,
        );

        const backends = new Map<string, pulumi.CustomResource>();
        for (const backend of router.versionBackends(plan, namespaces)) {
            backends.set(`${backend.workload.component}@${backend.workload.version}`, register(backend, []));
        }

        // A route is applied only once every version it routes to is defined and served (creates,
        // which Pulumi runs before their dependents). Between the in-place changes, the stage's
        // change order decides (see stages/model.ts, changeOrder).
        const servedBy = (route: TrafficRoute) =>
            route.routesTo.flatMap((ref) => [
                backends.get(`${ref.component}@${ref.version}`)!,
                deployments.get(`${ref.component}@${ref.version}`)!,
            ]);
        const registerRoute = (route: TrafficRoute, dependsOn: pulumi.Resource[]) =>
            register(route, [...servedBy(route), ...dependsOn]);

        const ingressRoute = router.ingressRoute(plan, namespaces);
        const ingressAllowed = allowsOf({ ingressGateway: true });
        // Without version backends the ingress route reaches every app pod: wait for them all.
        const appPods = plan.workloads
            .filter((wl) => wl.component === "voting-app")
            .map((wl) => deployments.get(`${wl.component}@${wl.version}`)!);
        const inner = router.meshRoutes(plan, namespaces);
        let routes: pulumi.CustomResource[];
        if (plan.changeOrder === "expand") {
            const innerResources = inner.map((route) => registerRoute(route, []));
            const ingressResource = registerRoute(ingressRoute, [
                gateway,
                ...appPods,
                ...ingressAllowed,
                ...innerResources,
            ]);
            routes = [ingressResource, ...innerResources];
        } else {
            const ingressResource = registerRoute(ingressRoute, [gateway, ...appPods, ...ingressAllowed]);
            const innerResources = inner.map((route) => registerRoute(route, [ingressResource]));
            routes = [ingressResource, ...innerResources];
        }

        // Where Redis stops with this stage, what 1.x took since the last carry is carried once users
        // no longer reach 1.x (the routes changed) and before Redis goes (deletes run last).
        if (carry === "final") {
            carryJob([storageService, deployments.get("voting-storage@2.0")!, ...routes]);
        }

        if (plan.stage.strictMtls) {
            new k8s.apiextensions.CustomResource(
                "default-peerauthentication",
                {
                    apiVersion: "security.istio.io/v1",
                    kind: "PeerAuthentication",
                    metadata: meta("default"),
                    spec: peerAuthenticationSpec(),
                },
                { ...k8sOpts, dependsOn: [...args.meshReady, ...backends.values()] },
            );
        }

        this.namespace = ns;
        this.deployments = pulumi.all([...deployments.values()].map((d) => d.metadata.name));
        const names = (resources: pulumi.CustomResource[]) =>
            pulumi.all(resources.map((r) => (r as k8s.core.v1.Service).metadata.name));
        this.versionBackends = names([...backends.values()]);
        this.routes = names(routes);
        this.registerOutputs({
            namespace: this.namespace,
            deployments: this.deployments,
            versionBackends: this.versionBackends,
            routes: this.routes,
        });
    }

    /**
     * The ServiceAccount a workload's pods run under: their mTLS identity in the mesh, which the
     * AuthorizationPolicies name. No Kubernetes API token is mounted: nothing of the app calls the API.
     */
    private serviceAccount(
        accountName: string,
        labels: Record<string, string>,
        meta: (name: string, labels?: Record<string, string>) => k8s.types.input.meta.v1.ObjectMeta,
    ): k8s.core.v1.ServiceAccount {
        return new k8s.core.v1.ServiceAccount(
            accountName,
            { metadata: meta(accountName, labels), automountServiceAccountToken: false },
            { parent: this },
        );
    }

    /**
     * The Job that carries the votes from Redis to MySQL: the app 2.0 image's carry (app/src/carry.ts),
     * exact however often it runs. Named after the stage, so entering the stage again runs it again;
     * a changed spec (a new image) replaces it, the old Job deleted first (Jobs are immutable and the
     * name is fixed), which runs the carry again, harmlessly (at finalize, with Redis gone, it finds
     * the final carry recorded and ends with nothing to carry). `pulumi up` waits for the Job to
     * complete; one that failed is run again by the next `pulumi up` (replaceUnready).
     */
    private carryJob(
        stageName: string,
        mode: VoteCarry,
        meta: (name: string, labels?: Record<string, string>) => k8s.types.input.meta.v1.ObjectMeta,
        images: VotingAppArgs["images"],
        mysqlSecret: kx.Secret,
        account: k8s.core.v1.ServiceAccount,
        opts: pulumi.CustomResourceOptions,
    ): k8s.batch.v1.Job {
        const labels = { app: CARRY_VOTES };
        const fromSecret = (key: string) => ({ valueFrom: { secretKeyRef: { name: mysqlSecret.metadata.name, key } } });
        return new k8s.batch.v1.Job(
            carryJobName(stageName),
            {
                metadata: {
                    ...meta(carryJobName(stageName), labels),
                    // A Job that failed (its pods gave up) is replaced, so run again, by the next
                    // `pulumi up`, instead of being waited on again.
                    annotations: { "pulumi.com/replaceUnready": "true" },
                },
                spec: {
                    // Four pods at most, each retrying its stores for CARRY_TIMEOUT_MS (60 s), with
                    // Kubernetes' 10 s, 20 s, 40 s between them: about 5 minutes, well inside the
                    // 10 minutes Pulumi waits for a Job to complete.
                    backoffLimit: 3,
                    template: {
                        metadata: { labels },
                        spec: {
                            serviceAccountName: account.metadata.name,
                            restartPolicy: "Never",
                            securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
                            containers: [
                                {
                                    name: "carry-votes",
                                    image: images[workloadName({ component: "voting-app", version: "2.0" })],
                                    command: ["node", "dist/carry.js"],
                                    env: [
                                        // seed or final: a final carry lets a later run find Redis gone (app/src/carry.ts)
                                        { name: "CARRY_MODE", value: mode },
                                        { name: "REDIS_HOST", value: "voting-storage" },
                                        { name: "REDIS_PORT", value: String(STORAGE_ENGINES["1.0"].port) },
                                        { name: "MYSQL_HOST", value: "voting-storage" },
                                        { name: "MYSQL_PORT", value: String(STORAGE_ENGINES["2.0"].port) },
                                        { name: "MYSQL_DATABASE", ...fromSecret("MYSQL_DATABASE") },
                                        { name: "MYSQL_USER", ...fromSecret("MYSQL_USER") },
                                        { name: "MYSQL_PASSWORD", ...fromSecret("MYSQL_PASSWORD") },
                                        ...Object.entries(CANDIDATES).map(([name, value]) => ({ name, value })),
                                    ],
                                    resources: {
                                        requests: CONTAINER_REQUESTS["carry-votes"],
                                        limits: { memory: "256Mi" },
                                    },
                                    securityContext: {
                                        allowPrivilegeEscalation: false,
                                        readOnlyRootFilesystem: true,
                                        capabilities: { drop: ["ALL"] },
                                    },
                                },
                            ],
                        },
                    },
                },
            },
            { ...opts, deleteBeforeReplace: true },
        );
    }

    private podSpec(
        ref: WorkloadRef,
        args: VotingAppArgs,
        storage: {
            redisData: kx.PersistentVolumeClaim;
            mysqlSecret?: kx.Secret;
            mysqlData: kx.PersistentVolumeClaim;
            mysqlInit?: kx.ConfigMap;
        },
    ): kx.types.PodSpec {
        const image = args.images[workloadName(ref)];
        if (ref.component === "voting-storage") {
            if (ref.version === "1.0") {
                return {
                    containers: [
                        {
                            name: "redis",
                            image,
                            args: ["--appendonly", "yes", "--dir", "/data"],
                            ports: { [STORAGE_ENGINES["1.0"].containerPortName]: STORAGE_ENGINES["1.0"].port },
                            resources: { requests: CONTAINER_REQUESTS.redis, limits: { memory: "256Mi" } },
                            // Replaying a large append-only file takes a while: liveness starts after it.
                            startupProbe: {
                                exec: { command: ["redis-cli", "ping"] },
                                periodSeconds: 5,
                                failureThreshold: 60,
                            },
                            readinessProbe: { exec: { command: ["redis-cli", "ping"] }, periodSeconds: 5 },
                            livenessProbe: {
                                exec: { command: ["redis-cli", "ping"] },
                                periodSeconds: 10,
                                failureThreshold: 6,
                            },
                            volumeMounts: [storage.redisData.mount("/data")],
                        },
                    ],
                };
            }
            const secret = storage.mysqlSecret!;
            return {
                containers: [
                    {
                        name: "mysql",
                        image,
                        ports: { [STORAGE_ENGINES["2.0"].containerPortName]: STORAGE_ENGINES["2.0"].port },
                        env: {
                            MYSQL_DATABASE: secret.asEnvValue("MYSQL_DATABASE"),
                            MYSQL_USER: secret.asEnvValue("MYSQL_USER"),
                            MYSQL_PASSWORD: secret.asEnvValue("MYSQL_PASSWORD"),
                            MYSQL_ROOT_PASSWORD: secret.asEnvValue("MYSQL_ROOT_PASSWORD"),
                        },
                        resources: { requests: CONTAINER_REQUESTS.mysql, limits: { memory: "1Gi" } },
                        // `mysqladmin ping` exits 0 whenever the server answers, even "access denied".
                        // The first start initialises the data directory (its temporary server
                        // listens on no TCP port) and runs init.sql: on a slow disk that takes minutes,
                        // and a liveness kill half-way leaves a data directory MySQL cannot open. The
                        // startup probe gives it up to 10 minutes; liveness starts only after it.
                        startupProbe: {
                            exec: { command: ["mysqladmin", "ping", "-h", "127.0.0.1"] },
                            periodSeconds: 10,
                            failureThreshold: 60,
                        },
                        readinessProbe: {
                            exec: { command: ["mysqladmin", "ping", "-h", "127.0.0.1"] },
                            periodSeconds: 5,
                        },
                        livenessProbe: {
                            exec: { command: ["mysqladmin", "ping", "-h", "127.0.0.1"] },
                            periodSeconds: 10,
                            failureThreshold: 6,
                        },
                        volumeMounts: [
                            // A sub-directory: a fresh disk's lost+found would stop MySQL 8 initialising.
                            storage.mysqlData.mount("/var/lib/mysql", "mysql"),
                            storage.mysqlInit!.mount("/docker-entrypoint-initdb.d"),
                        ],
                    },
                ],
            };
        }

        const store = STORAGE_ENGINES[storageFor(ref.component, ref.version)];
        const storageEnv: kx.types.EnvMap =
            store.engine === "redis"
                ? { REDIS_HOST: "voting-storage", REDIS_PORT: String(store.port) }
                : {
                      MYSQL_HOST: "voting-storage",
                      MYSQL_PORT: String(store.port),
                      MYSQL_DATABASE: storage.mysqlSecret!.asEnvValue("MYSQL_DATABASE"),
                      MYSQL_USER: storage.mysqlSecret!.asEnvValue("MYSQL_USER"),
                      MYSQL_PASSWORD: storage.mysqlSecret!.asEnvValue("MYSQL_PASSWORD"),
                  };
        const appEnv: kx.types.EnvMap =
            ref.component === "voting-app"
                ? {
                      ANALYTICS_HOST: "voting-analytics",
                      ANALYTICS_PORT: String(APP_PORT),
                      TITLE: "Azure Voting App",
                      ...CANDIDATES,
                      SHOWDETAILS: "true",
                      FEATUREFLAG: "true",
                  }
                : CANDIDATES;
        const requests = CONTAINER_REQUESTS[ref.component];
        return {
            securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
            containers: [
                {
                    name: ref.component,
                    image,
                    ports: { http: APP_PORT },
                    env: { PORT: String(APP_PORT), ...appEnv, ...storageEnv },
                    resources: { requests, limits: { memory: "256Mi" } },
                    readinessProbe: { httpGet: { path: "/readyz", port: APP_PORT }, periodSeconds: 5 },
                    livenessProbe: {
                        httpGet: { path: "/healthz", port: APP_PORT },
                        periodSeconds: 10,
                        failureThreshold: 3,
                    },
                    securityContext: {
                        allowPrivilegeEscalation: false,
                        readOnlyRootFilesystem: true,
                        capabilities: { drop: ["ALL"] },
                    },
                    volumeMounts: [{ volume: { name: "tmp", emptyDir: {} }, destPath: "/tmp" }],
                },
            ],
        };
    }
}
