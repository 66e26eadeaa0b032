/**
 * The cluster as e2e/secrets.e2e.ts needs it and leaves it: `prepareStandIns` waits for what the
 * files before left to be gone, installs the stand-ins for Istio (its CRDs, a gateway Service),
 * recording what it installed (`Installed`), and makes the volumes bindable (`bindableVolumes`,
 * also run at the end).
 */
import { installGatewayStandIn, installIstioCrds, installVolumes, istioCrds, until } from "../clusterSetup";
import { KubeClient } from "../kube";
import { DEFAULT_GATEWAY } from "../../stages/names";

/** An object the file installed into the cluster, to remove at the end. */
export interface Installed {
    kind: string;
    namespace?: string;
    name: string;
}

/**
 * Readies the cluster for the file's stack: waits for the namespaces and Istio's CRDs the stacks
 * before deleted to be gone, installs the stand-ins for Istio (pushing onto `installed` what was
 * not there, before installing it) and makes the volumes bindable.
 */
export async function prepareStandIns(kube: KubeClient, installed: Installed[]): Promise<void> {
    // What the files before this one left may still be going: namespaces and CRDs being deleted.
    await until("the namespaces the stacks before deleted to be gone", 180, async () => {
        const going = (await kube.list("Namespace")).filter(
            (n) => n.metadata.deletionTimestamp && /istio|voting/.test(n.metadata.name),
        );
        return going.length === 0 ? true : undefined;
    });
    const crds = istioCrds().crds.map((c) => c.metadata.name);
    await until("Istio's CRDs the stacks before deleted to be gone", 180, async () => {
        for (const name of crds)
            if ((await kube.get("CustomResourceDefinition", undefined, name))?.metadata.deletionTimestamp)
                return undefined;
        return true;
    });
    for (const name of crds)
        if (!(await kube.get("CustomResourceDefinition", undefined, name)))
            installed.push({ kind: "CustomResourceDefinition", name });
    if (!(await kube.get("Namespace", undefined, DEFAULT_GATEWAY.namespace)))
        installed.push({ kind: "Namespace", name: DEFAULT_GATEWAY.namespace });
    else if (!(await kube.get("Service", DEFAULT_GATEWAY.namespace, DEFAULT_GATEWAY.name)))
        installed.push({ kind: "Service", namespace: DEFAULT_GATEWAY.namespace, name: DEFAULT_GATEWAY.name });
    await installIstioCrds(kube);
    await installGatewayStandIn(kube, DEFAULT_GATEWAY.name, DEFAULT_GATEWAY.namespace);
    await bindableVolumes(kube);
}

/**
 * Makes the harness's volumes bindable: a volume whose claim was deleted (the walk's, or this
 * file's stack's) stays Released and binds no new claim, so it is made again as the walk made it.
 */
export async function bindableVolumes(kube: KubeClient): Promise<void> {
    const released = (await kube.list("PersistentVolume")).filter(
        (v) => v.metadata.name.startsWith("e2e-pv-") && v.status?.phase === "Released",
    );
    for (const v of released) await kube.remove("PersistentVolume", undefined, v.metadata.name);
    for (const v of released)
        await until(`PersistentVolume ${v.metadata.name} to be gone`, 60, async () =>
            (await kube.get("PersistentVolume", undefined, v.metadata.name)) ? undefined : true,
        );
    await installVolumes(kube);
}
