// Lint rules that keep the architecture of docs/design.md: the domain never reaches for the wire,
// SQL or a storage driver, and clients (cli/) only talk HTTP.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

const domainFolders = ["src/domain/**", "src/gallery/**", "src/resources/**", "src/identity/**"];

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", ".ocg/**", ".test-data/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: "readonly", console: "readonly", URL: "readonly" } },
    rules: {
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", destructuredArrayIgnorePattern: "^_" },
      ],
    },
  },
  {
    // Tests read loosely typed JSON answers on purpose.
    files: ["test/**"],
    rules: { "@typescript-eslint/no-explicit-any": "off" },
  },
  {
    files: domainFolders,
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["fastify", "@fastify/*", "**/api/**"],
              message: "the domain never sees the wire",
            },
            {
              group: ["kysely", "better-sqlite3", "pg", "**/store/**"],
              message: "the domain talks to ports, not SQL",
            },
          ],
        },
      ],
    },
  },
);
