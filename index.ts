/**
 * Reads and validates the stack settings, then wires the components: (AKS cluster) -> Kubernetes
 * provider -> Istio -> the voting app at the chosen stage. Nothing is registered before every
 * setting has been validated.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { GatewayApiCrds } from "./components/gatewayApiCrds";
import { IstioMesh } from "./components/istioMesh";
import { VotingApp } from "./components/votingApp";
import { azureHealthProbeAnnotations } from "./stages/istioCharts";
import { istioReleaseWarnings } from "./stages/istioReleases";
import { ALL_WORKLOADS, planStage, servingVersions } from "./stages/model";
import { workloadName } from "./stages/names";
import { imageOf, parseSettings, Settings } from "./stages/settings";
import { trafficRouter } from "./stages/traffic";

/** Where the app runs and where its images come from, whichever the cluster mode. */
interface ClusterTarget {
    /** The cluster's kubeconfig (aks mode); kubeconfig mode reads cluster.kubeconfig instead. */
    kubeconfig?: pulumi.Output<string>;
    /** Where this stack pushes the images it builds (images.build). */
    pushTo: {
        registry: pulumi.Input<string>;
        credentials?: { username: pulumi.Input<string>; password: pulumi.Input<string> };
    };
    /** What pods must wait for before they can pull the built images (AcrPull on AKS). */
    imagePullReady: pulumi.Resource[];
    /** Stack outputs that belong to the cluster (resource group, cluster, registry, kubeconfig). */
    outputs: Record<string, pulumi.Output<string>>;
}

/** cluster.mode=aks: a resource group and an AKS cluster, and a registry when the stack builds its images. */
async function aksCluster(settings: Settings): Promise<ClusterTarget> {
    // Loaded only in aks mode: kubeconfig-mode stacks never load the Azure SDK.
    const { Provider } = await import("@pulumi/azure-native/provider");
    const { AksCluster } = await import("./components/aksCluster");
    const azure = new Provider("azure", { location: settings.cluster.location });
    const cluster = new AksCluster("voting", settings.cluster, { providers: [azure] });
    const clusterOutputs = {
        resourceGroupName: cluster.resourceGroupName,
        clusterName: cluster.clusterName,
        workloadPool: cluster.workloadPoolName,
        kubeconfig: cluster.kubeconfig,
    };
    if (!settings.images.build) {
        return {
            kubeconfig: cluster.kubeconfig,
            pushTo: { registry: settings.images.registry },
            imagePullReady: [],
            outputs: clusterOutputs,
        };
    }
    const { ContainerRegistry } = await import("./components/containerRegistry");
    const registry = new ContainerRegistry(
        "voting",
        {
            resourceGroupName: cluster.resourceGroupName,
            location: cluster.location,
            kubeletObjectId: cluster.kubeletObjectId,
        },
        { providers: [azure] },
    );
    return {
        kubeconfig: cluster.kubeconfig,
        pushTo: {
            registry: registry.loginServer,
            credentials: { username: registry.pushUsername, password: registry.pushPassword },
        },
        imagePullReady: [registry.pullAccess],
        outputs: { ...clusterOutputs, registry: registry.loginServer },
    };
}

/** cluster.mode=kubeconfig: an existing cluster; no Azure resource, images pushed to images.registry. */
function existingCluster(settings: Settings): ClusterTarget {
    return { pushTo: { registry: settings.images.registry }, imagePullReady: [], outputs: {} };
}

/** The image of every Deployment: prebuilt from images.registry, or built and pushed by this stack. */
async function workloadImages(
    settings: Settings,
    pushTo: ClusterTarget["pushTo"],
): Promise<Record<string, pulumi.Input<string>>> {
    const prebuilt: Record<string, pulumi.Input<string>> = Object.fromEntries(
        ALL_WORKLOADS.map((ref) => [workloadName(ref), imageOf(settings.images, ref)]),
    );
    if (!settings.images.build) return prebuilt;
    const { Provider: DockerBuildProvider } = await import("@pulumi/docker-build");
    const { VotingImages } = await import("./components/votingImages");
    const built = new VotingImages(
        "voting",
        { ...pushTo, tags: settings.images.tags },
        { providers: [new DockerBuildProvider("docker-build")] },
    );
    return { ...prebuilt, ...built.refs };
}

export = async () => {
    const config = new pulumi.Config();
    // "cluster.mode" is the field `mode` of the structured setting `cluster` (Pulumi.yaml).
    const settings = parseSettings((key) => {
        const [head, ...field] = key.split(".");
        if (field.length === 0) return config.get(head);
        const value = config.getObject<Record<string, unknown>>(head)?.[field.join(".")];
        if (value === undefined || value === null) return undefined;
        // Structured values (istio.values) reach the validator as JSON, like a JSON string setting.
        return typeof value === "object" ? JSON.stringify(value) : String(value);
    });
    const plan = planStage(settings.stage, { canaryWeight: settings.canaryWeight });
    // A retired chart repository or an Istio leaving support: said at every preview, never refused.
    const kubernetesVersion = settings.cluster.mode === "aks" ? settings.cluster.kubernetesVersion : undefined;
    for (const warning of istioReleaseWarnings({ ...settings.istio, kubernetesVersion }, new Date())) {
        pulumi.log.warn(warning);
    }
    const mysqlPassword = config.getSecret("mysqlPassword");
    const mysqlRootPassword = config.getSecret("mysqlRootPassword");

    const cluster = settings.cluster.mode === "aks" ? await aksCluster(settings) : existingCluster(settings);
    const images = await workloadImages(settings, cluster.pushTo);

    const k8sProvider = new k8s.Provider("k8s", {
        kubeconfig: cluster.kubeconfig ?? settings.cluster.kubeconfigPath,
        context: settings.cluster.mode === "kubeconfig" ? settings.cluster.context : undefined,
    });
    // Only needed to generate passwords that secret config does not give.
    const randomProvider = mysqlPassword && mysqlRootPassword ? undefined : new random.Provider("random");

    const istio = new IstioMesh(
        "istio",
        {
            ...settings.istio,
            gatewayServiceAnnotations: settings.cluster.mode === "aks" ? azureHealthProbeAnnotations() : {},
        },
        { providers: [k8sProvider] },
    );

    // Gateway API's CRDs, when the stack uses the API and the cluster does not provide them.
    const gatewayApiCrds =
        settings.traffic.api === "gateway-api" && settings.traffic.gatewayApiCrds === "install"
            ? new GatewayApiCrds("gateway-api", { providers: [k8sProvider] })
            : undefined;

    const app = new VotingApp(
        "voting-app",
        {
            plan,
            appReplicas: settings.appReplicas,
            images,
            imagePullReady: cluster.imagePullReady,
            router: trafficRouter(settings.traffic.api),
            gatewayClassName: settings.traffic.gatewayClass,
            gatewaySelector: istio.gatewaySelector,
            gatewayService: istio.gatewayService,
            gatewayNamespace: settings.istio.gatewayNamespace,
            gatewayIdentity: istio.gatewayIdentity,
            authorization: settings.traffic.authorization,
            meshReady: istio.readyForMeshObjects,
            trafficApiReady: gatewayApiCrds ? [gatewayApiCrds] : [],
            istioRevision: settings.istio.revision,
            protectVotes: settings.data.protect,
            mysqlPassword,
            mysqlRootPassword,
        },
        { providers: randomProvider ? [k8sProvider, randomProvider] : [k8sProvider] },
    );

    return {
        stage: plan.stage.name,
        stageNumber: plan.stage.number,
        canaryWeight: plan.stage.weightedCanary ? settings.canaryWeight : 0,
        trafficApi: settings.traffic.api,
        versions: servingVersions(plan),
        ingressIp: istio.ingressIp,
        ingressUrl: istio.ingressIp.apply((ip) => (ip ? `http://${ip}/` : undefined)),
        istioVersion: istio.version,
        images,
        namespace: app.namespace,
        ...cluster.outputs,
    };
};
