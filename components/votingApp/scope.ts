import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

/**
 * What every part of the VotingApp registers its objects with: the component itself as their
 * parent (so their URNs are the component's children's, whichever file registers them) and the
 * metadata of an object of the app's namespace.
 */
export interface AppScope {
    parent: pulumi.Resource;
    meta: (objectName: string, labels?: Record<string, string>) => k8s.types.input.meta.v1.ObjectMeta;
}

/** A Deployment's key in the maps the parts share: voting-storage@1.0. */
export const workloadKey = (ref: { component: string; version: string }) => `${ref.component}@${ref.version}`;
