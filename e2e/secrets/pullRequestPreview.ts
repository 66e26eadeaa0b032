/**
 * The preview a pull request posts, as e2e/secrets.e2e.ts runs it: the options pulumi/actions@v7
 * passes (`PULL_REQUEST_PREVIEW`), the run with what it printed and its events
 * (`pullRequestPreview`), and the comment's text without colour codes (`stripColour`).
 */
import { EngineEvent, PreviewOptions, Stack } from "@pulumi/pulumi/automation";
import { log } from "../harness";
import { Shown } from "./shown";

/**
 * The options pulumi/actions@v7 (src/config.ts, makeConfig) passes to the Automation API's
 * `stack.preview` for the workflow's inputs (`command: preview`, `diff: true`, the rest at
 * action.yml's defaults): `pulumi preview --diff --exec-agent pulumi/actions@v6 --color auto`.
 */
const PULL_REQUEST_PREVIEW: PreviewOptions = {
    message: "",
    expectNoChanges: false,
    diff: true,
    refresh: false,
    replace: [],
    exclude: [],
    excludeDependents: false,
    target: [],
    targetDependents: false,
    policyPacks: [],
    policyPackConfigs: [],
    userAgent: "pulumi/actions@v6",
    color: "auto",
    plan: "",
    suppressOutputs: false,
    suppressProgress: false,
    logFlow: false,
    logToStdErr: false,
    debug: false,
};

/** The preview a pull request posts (see PULL_REQUEST_PREVIEW), with what it printed and its events. */
export async function pullRequestPreview(stack: Stack, what: string): Promise<Shown> {
    const events: EngineEvent[] = [];
    let streamed = "";
    const result = await stack.preview({
        ...PULL_REQUEST_PREVIEW,
        onOutput: (out) => {
            streamed += out;
            log(out);
        },
        onEvent: (e) => events.push(e),
    });
    return {
        what,
        events,
        texts: [
            { where: "stdout (the pull-request comment's text)", text: result.stdout },
            { where: "stderr", text: result.stderr },
            { where: "the output as streamed", text: streamed },
        ],
    };
}

/** Text without ANSI colour codes (`--color auto` writes none to a pipe; this holds if it did). */
export function stripColour(text: string): string {
    // eslint-disable-next-line no-control-regex
    return text.replace(/\x1b\[[0-9;]*m/g, "");
}
