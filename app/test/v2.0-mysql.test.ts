import { versionSuite } from "./suite";
import { text11 } from "./texts";

versionSuite({
    appVersion: "2.0",
    analyticsVersion: "2.0",
    store: "mysql",
    text24: "Cats: 2/6 (33%) | Dogs: 4/6 (67%)",
    text00: "Cats: 0/0 (0%) | Dogs: 0/0 (0%)",
    textFor: text11,
});
