// What every end-to-end test file starts with: why it would be skipped, progress lines, a scratch directory and the
// lab taken down after the file's tests, and the stack config file (a copy of Pulumi.dev.yaml) the steps edit.
import { after } from "node:test";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import YAML from "yaml";
import { Lab, fileBackend, repo, stepper, toolchainEnv } from "./lab";

export type StackConfig = { config: Record<string, unknown> };

export function e2eContext(prefix: string) {
    const env = toolchainEnv();
    const tc = env?.K8SCP_TOOLCHAIN_DIR;
    const skip: string | false =
        process.getuid?.() !== 0
            ? "the lab needs root"
            : !tc || !fs.existsSync(path.join(tc, "stamps", "complete"))
              ? `the toolchain is not built (${tc ?? "?"}): run npm run toolchain`
              : false;
    const log = (s: string) => console.log(`[${prefix}] ${s}`);
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `k8scp-${prefix}-`));
    let labUp = false;
    after(async () => {
        if (labUp) log(`lab down: exit ${(await Lab.down()).status}`);
        fs.rmSync(tmp, { recursive: true, force: true });
    });
    /** The stack config file of the test, edited by the steps as a user edits theirs. */
    const configFile = path.join(tmp, `Pulumi.${prefix}.yaml`);
    const readConfig = () => YAML.parse(fs.readFileSync(configFile, "utf8")) as StackConfig;
    const writeConfig = (c: StackConfig) => fs.writeFileSync(configFile, YAML.stringify(c));
    return {
        env,
        tc,
        skip,
        step: stepper(prefix),
        log,
        tmp,
        configFile,
        readConfig,
        writeConfig,
        editConfig(f: (c: Record<string, unknown>) => void) {
            const c = readConfig();
            f(c.config);
            writeConfig(c);
        },
        /** A private backend and passphrase, and the config file started from the repo's Pulumi.dev.yaml. */
        stackEnv(passphrase: string): NodeJS.ProcessEnv {
            fs.mkdirSync(path.join(tmp, "backend"));
            fs.copyFileSync(path.join(repo, "Pulumi.dev.yaml"), configFile);
            return { ...env, PULUMI_BACKEND_URL: fileBackend(path.join(tmp, "backend")), PULUMI_CONFIG_PASSPHRASE: passphrase };
        },
        /** Brings the lab up with N masters; it goes down after the file's tests. */
        async labUp(masters: number): Promise<Lab> {
            labUp = true;
            return Lab.up(masters);
        },
    };
}
