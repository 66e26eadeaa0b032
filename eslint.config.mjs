// ESLint for the program, its tests and rig, and the app: one configuration, run by `npm test`
// (scripts/lint.sh). Formatting is Prettier's (.prettierrc.json), so no stylistic rules here.
// @ts-check
import eslint from "@eslint/js";
import { defineConfig, globalIgnores } from "eslint/config";
import tseslint from "typescript-eslint";

export default defineConfig(
    globalIgnores(["**/node_modules/", "app/dist/", "app/build/", ".tools/", ".build/", ".pulumi-e2e/"]),
    eslint.configs.recommended,
    tseslint.configs.recommended,
    {
        rules: {
            // `const { dropped, ...rest } = object` is how a field is left out.
            "@typescript-eslint/no-unused-vars": ["error", { ignoreRestSiblings: true }],
        },
    },
    {
        // Tests and the rig read arbitrary Kubernetes, Pulumi and Istio JSON; `any` is what it is
        // there. The program (index.ts, components/, stages/) and the app stay without it.
        files: ["test/**/*.ts", "e2e/**/*.ts", "mock/**/*.ts", "cmd/**/*.ts", "rig/**/*.ts"],
        rules: { "@typescript-eslint/no-explicit-any": "off" },
    },
);
