import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { ObservedService, repairMarker } from "./plan/drift";
import { fileSha256 } from "./host/fileCache";
import { paths, serviceDir } from "./render/flags";
import { renderFilesScript, renderServiceScript, sha256, sudoScript } from "./render/scripts";
import { ServiceSpec, renderServiceUnit } from "./render/services";

export type Connection = command.types.input.remote.ConnectionArgs;

export interface ServiceFileArgs {
    /** Absolute path on the host; keep it under /etc/kubernetes/<service>/ so delete removes it. */
    path: string;
    content: pulumi.Input<string>;
    /** Octal mode. Default: "0644"; use "0600" for keys and kubeconfigs with keys. */
    mode?: string;
}

/**
 * The service's own fields (`service`, `description`, `dataDirs`, `unitType`, `after`, `health`,
 * `bootstrapWithoutWait`, `environmentFile`) are ServiceSpec's (render/services.ts), documented there.
 */
export interface ControlPlaneServiceArgs extends Omit<ServiceSpec<pulumi.Input<string>>, "binaries" | "args" | "files"> {
    /** SSH connection to the host. Keep the object stable: a change replaces every resource on the host. */
    connection: pulumi.Input<Connection>;
    /** Dedicated system user the service runs as and that owns its files. Default: the service name. */
    user?: string;
    /** Binaries to install to /usr/local/bin; the first is ExecStart. `localPath` is on the Pulumi machine. */
    binaries: { name: string; localPath: string }[];
    /** Command-line flags, already rendered (`--name=value`). */
    args: pulumi.Input<string[]>;
    /** Certificates, keys, kubeconfigs and other files the service reads. Default: none. */
    files?: ServiceFileArgs[];
    /** Variables written to /etc/kubernetes/<service>/environment and loaded with EnvironmentFile. Default: none. */
    environment?: pulumi.Input<Record<string, string>>;
    /** Resource that must exist before binaries are staged (the host preparation step). */
    hostReady?: pulumi.Input<pulumi.Resource>;
    /**
     * The binaries are copied one at a time, the first after this (e.g. the previous service's last copy on the same
     * host), so that a host sees few SSH logins at once (sshd's MaxStartups). Default: after hostReady only.
     */
    stageAfter?: pulumi.Input<pulumi.Resource>;
    /**
     * Resources whose health gates this service's install or restart, e.g. the same service on the
     * previous master (rolling order) or the local etcd. Default: none.
     */
    waitFor?: pulumi.Input<pulumi.Resource>[];
    /**
     * What the host has now compared with what was last applied (the program's drift probe). On drift the steps
     * run again and put the host right. Default: not observed (no drift repair).
     */
    observed?: ObservedService;
}

/**
 * A FileAsset that carries its sha256 in the asset's `hash` field of Pulumi's wire format. The engine hashes every
 * asset without one on every run: for the binaries, about 1 GB read for a 3-master no-op preview. The hash is the
 * one the engine would compute; without the field (another SDK) it computes it as before.
 */
export const hashedFileAsset = (localPath: string, hash: string): pulumi.asset.FileAsset =>
    Object.assign(new pulumi.asset.FileAsset(localPath), { hash: Promise.resolve(hash) });

/**
 * A copy's triggers: the content's hash and the host's identity (address, port and pinned host key). The command
 * provider's CopyToRemote copies nothing when only its connection changes (upstream's behaviour), so a master
 * replaced by a new machine (a new host key, or another address) would keep a copy that is not there; with the
 * identity among the triggers the copy is made again on the new machine.
 */
export const copyTriggers = (connection: pulumi.Input<Connection>, sha256: string): pulumi.Input<string>[] => [
    sha256,
    // Not secret: address, port and public host key only (the connection as a whole is, for its private key).
    pulumi.unsecret(pulumi.output(connection).apply((c) => `${c.host}:${c.port ?? 22} ${c.hostKey ?? ""}`)),
];

/**
 * One systemd service on one host over SSH. Binaries are staged with CopyToRemote (only when their
 * content changes); everything else happens in a single SSH session per change: user, files (keys 0600,
 * owned by the service user), unit, daemon-reload, enable, restart, and a wait for the health endpoint.
 * The step re-runs, and the service restarts, only when one of its inputs changed.
 */
export class ControlPlaneService extends pulumi.ComponentResource {
    /** The unit file as written to the host. */
    public readonly unit: pulumi.Output<string>;
    /** sha256 of everything the service depends on; it changes exactly when the service restarts. */
    public readonly revision: pulumi.Output<string>;
    /** The step that writes the service's user, directories and files (its stdin is secret). */
    public readonly files: command.remote.Command;
    /** The step that installs and starts the service; depend on it to order other work after health. */
    public readonly ready: command.remote.Command;
    /** The binaries copied to the host's staging directory. */
    public readonly staged: command.remote.CopyToRemote[];

    /**
     * With `retainOnDelete`, deleting the component leaves the host alone (its resources are only dropped from
     * state); a host-level cleanup (MasterNode's) then removes the service.
     */
    constructor(name: string, args: ControlPlaneServiceArgs, opts?: pulumi.ComponentResourceOptions) {
        super("k8scp:index:ControlPlaneService", name, {}, opts);
        const retainOnDelete = opts?.retainOnDelete;
        const user = args.user ?? args.service;
        if (args.binaries.length === 0) throw new Error(`ControlPlaneService ${name}: at least one binary is required`);
        const binaries = args.binaries.map((b) => {
            if (!fs.existsSync(b.localPath)) {
                throw new Error(
                    `ControlPlaneService ${name}: binary ${b.localPath} not found; build it with 'npm run toolchain' or set k8scp:binDir`,
                );
            }
            return { name: b.name, localPath: path.resolve(b.localPath), sha256: fileSha256(b.localPath) };
        });
        const copies: command.remote.CopyToRemote[] = [];
        for (const b of binaries) {
            const after = copies.length ? [copies[copies.length - 1]] : args.stageAfter ? [args.stageAfter] : [];
            copies.push(
                new command.remote.CopyToRemote(
                    `${name}-${b.name}`,
                    {
                        connection: args.connection,
                        source: hashedFileAsset(b.localPath, b.sha256),
                        remotePath: `${paths.staging}/${b.name}`,
                        triggers: copyTriggers(args.connection, b.sha256),
                    },
                    { parent: this, dependsOn: [...(args.hostReady ? [args.hostReady] : []), ...after], retainOnDelete },
                ),
            );
        }
        this.staged = copies;

        const envPath = `${serviceDir(args.service)}/environment`;
        this.unit = pulumi.output(args.args).apply((flags) =>
            renderServiceUnit({
                description: args.description,
                binary: binaries[0].name,
                args: flags,
                user,
                unitType: args.unitType,
                after: args.after,
                environmentFile: args.environment ? envPath : args.environmentFile,
                writablePaths: args.dataDirs,
            }),
        );
        const files = (args.files ?? []).map((f) => pulumi.output(f.content).apply((content) => ({ path: f.path, mode: f.mode, content })));
        if (args.environment) {
            files.push(
                pulumi.output(args.environment).apply((env) => ({
                    path: envPath,
                    mode: "0600",
                    content: Object.entries(env)
                        .map(([k, v]) => `${k}=${JSON.stringify(v)}\n`)
                        .join(""),
                })),
            );
        }
        // Two steps, so that a reviewer reads in `pulumi preview --diff` which flag changed: the files step
        // carries the key material (secret stdin), the service step the unit and its flags (plain stdin).
        for (const [step, o] of Object.entries(args.observed ?? {})) {
            if (o.state !== "drift") continue;
            const what = step === "files" ? "its files differ" : "its unit, binaries or running state differ";
            pulumi.log.warn(`${args.service}: ${what} from what Pulumi applied (${o.detail}); this update puts them right`, this);
        }
        const filesSpec = pulumi.all(files).apply((fs_) => ({ name: args.service, user, files: fs_, dataDirs: args.dataDirs }));
        const filesScript = filesSpec.apply((spec) => renderFilesScript({ ...spec, repairMarker: repairMarker(args.observed?.files) }));
        // What restarts the service: the files themselves, not the repair marker (a repaired file is what it was).
        const filesRevision = pulumi.unsecret(filesSpec.apply((spec) => sha256(renderFilesScript(spec))));
        const serviceScript = pulumi.all([this.unit, filesRevision]).apply(([unit, rev]) =>
            renderServiceScript({
                name: args.service,
                user,
                unit,
                binaries: binaries.map(({ name: n, sha256: s }) => ({ name: n, sha256: s })),
                files: [],
                ownsUser: false,
                filesRevision: rev,
                repairMarker: repairMarker(args.observed?.service),
                health: args.health,
                bootstrapWithoutWait: args.bootstrapWithoutWait,
            }),
        );
        this.revision = pulumi.unsecret(serviceScript.apply((s) => sha256(s)));
        const commands = (stdin: pulumi.Input<string>) => ({
            connection: args.connection,
            create: sudoScript("create"),
            update: sudoScript("update"),
            delete: sudoScript("delete"),
            stdin,
            // No script reads the previous output, and sshd refuses PULUMI_COMMAND_STDOUT/STDERR without AcceptEnv
            // (a warning on every update otherwise).
            addPreviousOutputInEnv: false,
        });
        // Replacements delete before they create: the old instance's delete would remove what the new one
        // just installed on the same host.
        this.files = new command.remote.Command(
            `${name}-files`,
            { ...commands(pulumi.secret(filesScript)), logging: "none" },
            {
                parent: this,
                dependsOn: args.hostReady ? [args.hostReady] : [],
                deleteBeforeReplace: true,
                additionalSecretOutputs: ["stdout", "stderr"],
                retainOnDelete,
            },
        );
        this.ready = new command.remote.Command(
            `${name}`,
            { ...commands(serviceScript), logging: "stdoutAndStderr" },
            { parent: this, dependsOn: [this.files, ...copies, ...(args.waitFor ?? [])], deleteBeforeReplace: true, retainOnDelete },
        );
        this.registerOutputs({ unit: this.unit, revision: this.revision });
    }
}
