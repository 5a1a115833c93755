// The transpiler ts-node uses for the Pulumi program (tsconfig.pulumi.json: "ts-node".transpiler): Sucrase, which
// removes the types and turns imports into require() calls, file by file, without a type checker. On 2 cores it
// loads index.ts and the components in about 0.35 s where TypeScript's own transpiler takes about 0.9 s (SWC's
// native build would do as well, but the npm mirror these machines reach has no builds of it for other platforms, so
// its lock file fails `npm ci`). Types are checked by `npm run typecheck`, part of `npm test`.
"use strict";
const { transform } = require("sucrase");

/** ts-node's third-party transpiler interface: create() returns { transpile(input, { fileName }) }. */
exports.create = () => ({
    transpile(input, { fileName }) {
        const out = transform(input, {
            transforms: ["typescript", "imports"],
            filePath: fileName,
            // Node 22+ runs every ES2022 feature the code uses; only types and modules are transformed.
            disableESTransforms: true,
            sourceMapOptions: { compiledFilename: fileName },
        });
        return { outputText: out.code, sourceMapText: JSON.stringify(out.sourceMap) };
    },
});
