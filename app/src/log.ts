// One-line JSON logs on stdout/stderr (what kubectl logs and most collectors expect).

export type Level = "info" | "warn" | "error";

export function log(level: Level, msg: string, extra: Record<string, unknown> = {}): void {
    const line = JSON.stringify({ time: new Date().toISOString(), level, msg, ...extra });
    if (level === "info") process.stdout.write(line + "\n");
    else process.stderr.write(line + "\n");
}
