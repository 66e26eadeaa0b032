/**
 * Every object each stage registers, validated against upstream schemas:
 *  - Kubernetes kinds with kubernetes-models (the Kubernetes OpenAPI schemas);
 *  - Istio kinds with @kubernetes-models/istio (2.x has v1beta1 only for these kinds, and the v1
 *    APIs repeat v1beta1's schema), and with Istio's own CRD schemas (from the `base` chart the rig installs) for the v1 versions we use (vendored
 *    from ../shared/data by rig/vendor-istio-crd-schemas.ts), including unknown fields, which
 *    `kubectl apply --validate=strict` would refuse;
 *  - Gateway API kinds (traffic.api=gateway-api) with Gateway API's own CRD schemas, from the
 *    standard channel the program installs (crds/gateway-api-standard.json), unknown fields too.
 *    What the CRDs also check with CEL rules (x-kubernetes-validations) is left to the API server
 *    of the end-to-end walk.
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import Ajv from "ajv";
import { DestinationRule, Gateway, VirtualService } from "@kubernetes-models/istio/networking.istio.io/v1beta1";
import { AuthorizationPolicy, PeerAuthentication } from "@kubernetes-models/istio/security.istio.io/v1beta1";
import { ConfigMap, Namespace, PersistentVolumeClaim, Secret, Service, ServiceAccount } from "kubernetes-models/v1";
import { Deployment } from "kubernetes-models/apps/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { Job } from "kubernetes-models/batch/v1";
import { appObjects, KubernetesObject } from "../mock/runProgram";
import { STAGE_NAMES } from "../stages/model";
import {
    CRD_RELEASE,
    CRD_SOURCE,
    crdsOfBaseChart,
    extractSchemas,
    KINDS,
    VENDORED,
} from "../rig/vendor-istio-crd-schemas";
import { crdsOfVendoredSchemas } from "../e2e/clusterSetup";
import { CHARTS_ENV, rigChartRepository } from "./support/chartRepository";
import { runStageIn } from "./support/runs";
import { GATEWAY_API_CRDS_FILE, GatewayApiChannelFile } from "../stages/gatewayApi";
import { TRAFFIC_APIS } from "../stages/traffic/router";
import { PROJECT_DIR } from "../mock/runProgram";
import * as path from "path";

const KUBERNETES: Record<string, new (data: any) => { validate(): void }> = {
    "v1/Namespace": Namespace,
    "v1/Secret": Secret,
    "v1/ConfigMap": ConfigMap,
    "v1/PersistentVolumeClaim": PersistentVolumeClaim,
    "v1/Service": Service,
    "v1/ServiceAccount": ServiceAccount,
    "apps/v1/Deployment": Deployment,
    "batch/v1/Job": Job,
    "policy/v1/PodDisruptionBudget": PodDisruptionBudget,
};
const ISTIO_MODELS: Record<string, new (data: any) => { validate(): void }> = {
    Gateway,
    VirtualService,
    DestinationRule,
    PeerAuthentication,
    AuthorizationPolicy,
};

const vendored: { schemas: Record<string, any> } = JSON.parse(fs.readFileSync(VENDORED, "utf8"));
const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
const crdValidators = Object.fromEntries(Object.entries(vendored.schemas).map(([k, s]) => [k, ajv.compile(s)]));

/** Gateway API's schemas by `group/version/Kind`, every version its vendored CRDs serve. */
const gatewayApiChannel: GatewayApiChannelFile = JSON.parse(
    fs.readFileSync(path.join(PROJECT_DIR, GATEWAY_API_CRDS_FILE), "utf8"),
);
const GATEWAY_API_SCHEMAS: Record<string, any> = Object.fromEntries(
    gatewayApiChannel.objects
        .filter((o) => o.kind === "CustomResourceDefinition")
        .flatMap((crd: any) =>
            crd.spec.versions
                .filter((v: any) => v.served)
                .map((v: any) => [`${crd.spec.group}/${v.name}/${crd.spec.names.kind}`, v.schema.openAPIV3Schema]),
        ),
);
const gatewayApiValidators = Object.fromEntries(
    Object.entries(GATEWAY_API_SCHEMAS).map(([k, schema]) => [k, ajv.compile(schema)]),
);

/** Fields the schema does not declare (the API server would prune them or, strictly, refuse them). */
export function unknownFields(value: any, schema: any, path = ""): string[] {
    if (!schema || schema["x-kubernetes-preserve-unknown-fields"] || value === null || typeof value !== "object")
        return [];
    if (Array.isArray(value)) return value.flatMap((v, i) => unknownFields(v, schema.items, `${path}[${i}]`));
    if (!schema.properties) {
        if (schema.additionalProperties && typeof schema.additionalProperties === "object") {
            return Object.entries(value).flatMap(([k, v]) =>
                unknownFields(v, schema.additionalProperties, `${path}.${k}`),
            );
        }
        return [];
    }
    return Object.entries(value).flatMap(([k, v]) =>
        k in schema.properties
            ? unknownFields(v, schema.properties[k], `${path}.${k}`)
            : path === "" && ["apiVersion", "kind", "metadata"].includes(k)
              ? []
              : [`${path}.${k}`],
    );
}

function validate(o: KubernetesObject): void {
    const key = `${o.apiVersion}/${o.kind}`;
    const k8sModel = KUBERNETES[key];
    if (k8sModel) return new k8sModel(o).validate();
    if (o.apiVersion.startsWith("gateway.networking.k8s.io/")) {
        const crd = gatewayApiValidators[key];
        assert.ok(crd, `no Gateway API ${gatewayApiChannel.version} CRD schema for ${key}`);
        assert.ok(
            crd(o),
            `${key} ${o.metadata.name} against Gateway API ${gatewayApiChannel.version}'s CRD: ${ajv.errorsText(crd.errors)}`,
        );
        assert.deepEqual(
            unknownFields(o, GATEWAY_API_SCHEMAS[key]),
            [],
            `${key} ${o.metadata.name} has fields Gateway API ${gatewayApiChannel.version} does not know`,
        );
        return;
    }
    const istioModel = ISTIO_MODELS[o.kind];
    assert.ok(istioModel && /istio\.io\/v1$/.test(o.apiVersion), `no schema for ${key}`);
    // The 2.x models have no v1 of these kinds: v1 repeats v1beta1's schema, so validate there.
    const modelApiVersion = o.apiVersion.replace(/\/v1$/, "/v1beta1");
    new istioModel({ ...o, apiVersion: modelApiVersion }).validate();
    const crd = crdValidators[key];
    assert.ok(crd, `no Istio ${CRD_RELEASE} CRD schema for ${key}`);
    assert.ok(crd(o), `${key} ${o.metadata.name} against Istio ${CRD_RELEASE}'s CRD: ${ajv.errorsText(crd.errors)}`);
    assert.deepEqual(
        unknownFields(o, vendored.schemas[key]),
        [],
        `${key} ${o.metadata.name} has fields Istio ${CRD_RELEASE} does not know`,
    );
}

describe("schemas", () => {
    for (const api of TRAFFIC_APIS)
        for (const stage of STAGE_NAMES) {
            it(`every object of stage ${stage} is valid${api === "istio" ? "" : ` (traffic.api=${api})`}`, async () => {
                const objects = appObjects(await runStageIn(api, stage, { canaryWeight: "25" }));
                assert.ok(objects.length > 8);
                if (api === "gateway-api")
                    assert.ok(objects.filter((o) => o.apiVersion.startsWith("gateway.networking.k8s.io/")).length >= 2);
                for (const o of objects) {
                    try {
                        validate(o);
                    } catch (err) {
                        assert.fail(`${o.kind} ${o.metadata.name}: ${(err as Error).message}`);
                    }
                }
            });
        }

    it("the validators do reject bad objects", () => {
        assert.throws(() => new Deployment({ metadata: { name: "x" }, spec: { replicas: "three" } as any }).validate());
        assert.throws(() =>
            new Service({ metadata: { name: "x" }, spec: { ports: [{ port: "eighty" as any }] } }).validate(),
        );
        const vs = {
            apiVersion: "networking.istio.io/v1",
            kind: "VirtualService",
            metadata: { name: "x" },
            spec: { http: [{ route: [{ destination: { host: "a" }, weight: "heavy" }] }] },
        };
        assert.equal(crdValidators["networking.istio.io/v1/VirtualService"](vs), false);
        assert.deepEqual(
            unknownFields(
                { ...vs, spec: { hosts: ["a"], tcpRoutes: [] } },
                vendored.schemas["networking.istio.io/v1/VirtualService"],
            ),
            [".spec.tcpRoutes"],
        );
        const pa = {
            apiVersion: "security.istio.io/v1",
            kind: "PeerAuthentication",
            metadata: { name: "x" },
            spec: { mtls: { mode: "ALWAYS" } },
        };
        assert.equal(crdValidators["security.istio.io/v1/PeerAuthentication"](pa), false);
    });

    it("Gateway API's schemas do reject bad objects (a weight that is not a number, an unknown match type, a Gateway without a class, a field Gateway API does not know)", async () => {
        const objects = appObjects(await runStageIn("gateway-api", "canary", { canaryWeight: "30" }));
        const route = objects.find((o) => o.kind === "HTTPRoute" && o.metadata.name === "voting-app")!;
        const gateway = objects.find((o) => o.kind === "Gateway")!;
        const withRules = (change: (rule: any) => any) => ({
            ...route,
            spec: { ...route.spec, rules: route.spec.rules.map(change) },
        });
        validate(route);
        validate(gateway);
        assert.throws(
            () =>
                validate(
                    withRules((r) => ({
                        ...r,
                        backendRefs: r.backendRefs.map((b: any) => ({ ...b, weight: "heavy" })),
                    })),
                ),
            /HTTPRoute voting-app against Gateway API v1\.5\.1's CRD: .*weight must be integer/,
        );
        assert.throws(
            () =>
                validate(
                    withRules((r) =>
                        r.matches
                            ? {
                                  ...r,
                                  matches: r.matches.map((m: any) => ({
                                      headers: m.headers.map((h: any) => ({ ...h, type: "Regex" })),
                                  })),
                              }
                            : r,
                    ),
                ),
            /must be equal to one of the allowed values/,
        );
        const { gatewayClassName: _, ...classless } = gateway.spec;
        assert.throws(
            () => validate({ ...gateway, spec: classless }),
            /must have required property 'gatewayClassName'/,
        );
        assert.throws(
            () => validate(withRules((r) => ({ ...r, retries: 3 }))),
            /has fields Gateway API v1\.5\.1 does not know/,
        );
    });

    it(`the vendored schemas are those of Istio ${CRD_RELEASE}'s base chart (../shared), or of the charts the walk installs (E2E_ISTIO_CHARTS)`, function () {
        // ../shared holds the chart they were vendored from; GitHub's npm test job has none, but
        // the charts users get (E2E_ISTIO_CHARTS): there a difference means users' CRDs moved on.
        const charts = rigChartRepository();
        const source = fs.existsSync(CRD_SOURCE) ? CRD_SOURCE : "missing" in charts ? undefined : charts.files.base;
        if (!source) {
            const why = `neither ${CRD_SOURCE} nor ${CHARTS_ENV} is there`;
            if (process.env.CI) assert.fail(`under CI, ${why}`);
            process.stderr.write(`skipped: the vendored schemas' check: ${why}\n`);
            this.skip();
        }
        assert.deepEqual(
            extractSchemas(crdsOfBaseChart(source!)),
            vendored.schemas,
            `${source} has other schemas: node -r ts-node/register/transpile-only rig/vendor-istio-crd-schemas.ts ${source}`,
        );
    });
});

describe("the walk's stand-in Istio CRDs (no charts: e2e/clusterSetup.ts), named as Istio's own", () => {
    it("each vendored kind becomes a CRD named and pluralised as Istio's base chart names it", () => {
        const crds = crdsOfVendoredSchemas();
        assert.deepEqual(crds.map((c) => c.metadata.name).sort(), Object.values(KINDS).sort());
        for (const c of crds) assert.equal(`${c.spec.names.plural}.${c.spec.group}`, c.metadata.name);
        assert.ok(crds.some((c) => c.spec.names.plural === "gateways"));
        assert.ok(crds.some((c) => c.spec.names.plural === "authorizationpolicies"));
    });
});
