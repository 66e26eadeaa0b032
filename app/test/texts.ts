// Expected results texts, written out independently of src/analytics.ts.

export function text10(cats: number, dogs: number): string {
    return `Cats: ${cats} | Dogs: ${dogs}`;
}

export function text11(cats: number, dogs: number): string {
    const total = cats + dogs;
    const pct = (n: number): number => (total === 0 ? 0 : Math.round((100 * n) / total));
    return `Cats: ${cats}/${total} (${pct(cats)}%) | Dogs: ${dogs}/${total} (${pct(dogs)}%)`;
}
