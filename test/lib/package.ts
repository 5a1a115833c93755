// The package as a user gets it: built (npm run build), packed (npm pack) once per test process, and installed from
// the tarball into a program directory of its own (its own package.json and tsconfig.json, the dependency versions
// this repo pins), compiled there by TypeScript against the shipped .d.ts files. No file of the repo is imported.
import * as fs from "node:fs";
import * as path from "node:path";
import { repo, run } from "./lab";

const pkg = JSON.parse(fs.readFileSync(path.join(repo, "package.json"), "utf8")) as {
    name: string;
    dependencies: Record<string, string>;
    devDependencies: Record<string, string>;
};

let packed: Promise<string> | undefined;

/** Builds and packs the package into `dir` once; the tarball's path. */
export function packedPackage(dir: string, log: (s: string) => void): Promise<string> {
    packed ??= (async () => {
        const build = await run("npm", ["run", "build"], { timeoutMs: 300_000 });
        if (build.status !== 0) throw new Error(`npm run build exited ${build.status}:\n${build.stdout}${build.stderr}`);
        const pack = await run("npm", ["pack", "--json", "--pack-destination", dir], { timeoutMs: 120_000 });
        if (pack.status !== 0) throw new Error(`npm pack exited ${pack.status}:\n${pack.stdout}${pack.stderr}`);
        const [info] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
        log(`packed ${info.filename}: ${info.files.length} files`);
        return path.join(dir, info.filename);
    })();
    return packed;
}

/**
 * A copy of the program in `src` (Pulumi.yaml, index.ts) in `dest`, with a package.json that depends on the tarball
 * and the SDKs, a strict tsconfig.json, `npm install` (npm's own timeout and retries per fetch) and `tsc` (the
 * program's type check against the package's .d.ts; Pulumi.yaml runs the compiled bin/index.js).
 */
export async function installProgram(src: string, dest: string, tarball: string, deps: string[]): Promise<string> {
    fs.mkdirSync(dest, { recursive: true });
    for (const f of ["Pulumi.yaml", "index.ts"]) fs.copyFileSync(path.join(src, f), path.join(dest, f));
    const pinned = (names: string[], from: Record<string, string>) => Object.fromEntries(names.map((n) => [n, from[n]]));
    fs.writeFileSync(
        path.join(dest, "package.json"),
        JSON.stringify(
            {
                name: path.basename(dest),
                private: true,
                dependencies: { [pkg.name]: `file:${tarball}`, ...pinned(deps, pkg.dependencies) },
                devDependencies: pinned(["typescript", "@types/node"], pkg.devDependencies),
            },
            null,
            2,
        ),
    );
    fs.writeFileSync(
        path.join(dest, "tsconfig.json"),
        JSON.stringify(
            {
                compilerOptions: {
                    target: "ES2022",
                    module: "commonjs",
                    moduleResolution: "node",
                    strict: true,
                    esModuleInterop: true,
                    types: ["node"],
                    outDir: "bin",
                },
                files: ["index.ts"],
            },
            null,
            2,
        ),
    );
    const npm = await run(
        "npm",
        ["install", "--no-audit", "--no-fund", "--prefer-offline", "--fetch-timeout=60000", "--fetch-retries=2", "--loglevel=error"],
        { cwd: dest, timeoutMs: 600_000 },
    );
    if (npm.status !== 0)
        throw new Error(
            `npm install in ${dest} (the packed ${pkg.name} and its dependencies) exited ${npm.status}:\n${npm.stdout}${npm.stderr}`,
        );
    const tsc = await run(path.join(dest, "node_modules", ".bin", "tsc"), ["-p", "."], { cwd: dest, timeoutMs: 120_000 });
    if (tsc.status !== 0)
        throw new Error(`tsc of ${dest}/index.ts against the packed package exited ${tsc.status}:\n${tsc.stdout}${tsc.stderr}`);
    return dest;
}
