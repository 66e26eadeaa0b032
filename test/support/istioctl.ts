/**
 * `istioctl analyze`, Istio's own analyzers, from the istioctl that scripts/istio-tools.sh builds
 * (or $ISTIOCTL): on files (the unit suite, render's output) or on a live cluster (the walk).
 */
import { execFile } from "child_process";
import * as path from "path";

export const ISTIOCTL = process.env.ISTIOCTL || path.resolve(__dirname, "..", "..", ".tools", "bin", "istioctl");

export interface AnalyzerMessage {
    code: string;
    level: string;
    message: string;
    origin?: string;
}

/** Runs `istioctl analyze <args>` and returns every message it reports, whatever its level. */
export function istioctlAnalyze(args: string[]): Promise<AnalyzerMessage[]> {
    return new Promise((resolve, reject) => {
        execFile(
            ISTIOCTL,
            ["analyze", "--output", "json", "--output-threshold", "Info", ...args],
            { encoding: "utf8", timeout: 120000 },
            (error, stdout, stderr) => {
                // Exit code 79: messages at or above the failure threshold; the JSON still says which.
                if (error && (error as { code?: unknown }).code !== 79)
                    return reject(new Error(`istioctl analyze failed (${error.message}): ${stderr}`));
                try {
                    const messages = JSON.parse(stdout || "[]") as AnalyzerMessage[];
                    resolve(messages.map(({ code, level, message, origin }) => ({ code, level, message, origin })));
                } catch {
                    reject(new Error(`istioctl analyze printed no JSON: ${stdout}\n${stderr}`));
                }
            },
        );
    });
}

/**
 * As files, without a cluster: istioctl then skips the analyzers that need Services, Pods and
 * Namespaces. Every namespace: without it, only messages about "default" would be reported.
 */
export const analyzeFiles = (files: string[]) => istioctlAnalyze(["--use-kube=false", "--all-namespaces", ...files]);

/** Against a live cluster: every analyzer runs; messages about `namespace`. */
export const analyzeLive = (kubeconfig: string, namespace: string) =>
    istioctlAnalyze(["--kubeconfig", kubeconfig, "--namespace", namespace]);

export const atLeastWarning = (messages: AnalyzerMessage[]) =>
    messages.filter((m) => m.level === "Warning" || m.level === "Error");

export const showMessages = (messages: AnalyzerMessage[]) =>
    messages.map((m) => `${m.level} [${m.code}] ${m.origin ?? ""}: ${m.message}`).join("\n");
