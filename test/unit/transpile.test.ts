// The program's transpiler (scripts/transpile.js, Sucrase) keeps every line where it is: the program's stack traces
// are not mapped through source maps (index.ts), so their line numbers must be the TypeScript file's own.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { create } = require("../../scripts/transpile") as {
    create(): { transpile(input: string, o: { fileName: string }): { outputText: string } };
};

const root = path.join(__dirname, "..", "..");
const programFiles = (dir: string): string[] =>
    fs
        .readdirSync(path.join(root, dir), { withFileTypes: true })
        .flatMap((e) => (e.isDirectory() ? programFiles(path.join(dir, e.name)) : e.name.endsWith(".ts") ? [path.join(dir, e.name)] : []));

test("transpiled program files keep each throw and each function on its TypeScript line", () => {
    const transpiler = create();
    const files = ["index.ts", ...programFiles("components")];
    let checked = 0;
    for (const f of files) {
        const text = fs.readFileSync(path.join(root, f), "utf8");
        const src = text.split("\n");
        const out = transpiler.transpile(text, { fileName: path.join(root, f) }).outputText.split("\n");
        src.forEach((line, i) => {
            // The imports transform writes an imported class as `(0, _module.Name)`: the keyword and the name stay.
            const m = /\b(throw new|function|class)\s+(\w+)/.exec(line);
            if (!m) return;
            checked++;
            const kept = out[i]?.includes(m[1]) && out[i].includes(m[2]);
            assert.ok(kept, `${f}:${i + 1}: "${m[0]}" is on another line after transpiling: ${JSON.stringify(out[i])}`);
        });
    }
    assert.ok(checked > 100, `only ${checked} lines checked`);
});
