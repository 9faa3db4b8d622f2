// ESLint for the package and its tests (`npm run lint`, run by .ci/run): typescript-eslint's recommended rules,
// with Prettier owning the layout (eslint-config-prettier turns off the rules it decides).
import js from "@eslint/js";
import prettier from "eslint-config-prettier";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "src/api.ts"] }, // api.ts: written by openapi-typescript
  js.configs.recommended,
  ...tseslint.configs.recommended,
  prettier,
  {
    rules: {
      // `_` names what a destructuring leaves out on purpose
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
);
