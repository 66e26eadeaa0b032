/**
 * The MySQL passwords e2e/secrets.e2e.ts gives its stack as secret config, the rotated ones its
 * last preview plans, and all of them by name: what each of its scans looks for.
 */
import { Secrets, TEST_SECRETS } from "../../test/support/secretScan";

export const SECRETS = {
    mysqlPassword: TEST_SECRETS["e2e secrets mysqlPassword"],
    mysqlRootPassword: TEST_SECRETS["e2e secrets mysqlRootPassword"],
};
export const ROTATED = {
    mysqlPassword: TEST_SECRETS["e2e secrets rotated mysqlPassword"],
    mysqlRootPassword: TEST_SECRETS["e2e secrets rotated mysqlRootPassword"],
};
/** Every value e2e/secrets.e2e.ts sets, by name: what each scan looks for. */
export const ALL: Secrets = {
    mysqlPassword: SECRETS.mysqlPassword,
    mysqlRootPassword: SECRETS.mysqlRootPassword,
    "rotated mysqlPassword": ROTATED.mysqlPassword,
    "rotated mysqlRootPassword": ROTATED.mysqlRootPassword,
};
