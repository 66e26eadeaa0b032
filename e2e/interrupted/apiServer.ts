/**
 * The throwaway control plane's kube-apiserver (scripts/kube-apiserver.sh), for the interrupted ups:
 * `restartApiServer` SIGKILLs it and starts it again half-way through an up, `resumeControlPlane`
 * has every process of the control plane running and waits for kube-apiserver to answer.
 */
import { strict as assert } from "assert";
import { spawn, spawnSync } from "child_process";
import { until } from "../clusterSetup";
import { KubeClient } from "../kube";
import { ROOT } from "../stackProgram";

/** Every process of the throwaway control plane running, kube-apiserver answering. */
export async function resumeControlPlane(kube: KubeClient) {
    const resumed = spawnSync("bash", ["scripts/kube-apiserver.sh", "resume"], { cwd: ROOT, encoding: "utf8" });
    assert.equal(resumed.status, 0, resumed.stderr);
    await until("kube-apiserver to answer", 60, async () =>
        (await kube.list("Node").catch(() => undefined)) ? true : undefined,
    );
}

/** kube-apiserver SIGKILLed, started again 3 s later (kube-apiserver.sh kill-apiserver, resume). */
export function restartApiServer(): Promise<string> {
    return new Promise((resolve, reject) => {
        const t = Date.now();
        const child = spawn(
            "bash",
            ["-c", "bash scripts/kube-apiserver.sh kill-apiserver && sleep 3 && bash scripts/kube-apiserver.sh resume"],
            { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
        );
        let output = "";
        child.stdout.on("data", (d) => (output += d));
        child.stderr.on("data", (d) => (output += d));
        child.on("exit", (code) =>
            code === 0
                ? resolve(`kube-apiserver killed and started again in ${Date.now() - t} ms`)
                : reject(new Error(`kube-apiserver's restart failed (${code}):\n${output}`)),
        );
    });
}
