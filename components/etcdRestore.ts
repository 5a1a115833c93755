import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { Connection, copyTriggers, hashedFileAsset } from "./controlPlaneService";
import { renderRestoreScript, renderRestoreStart, renderRestoreVerify, renderResumeScript, restoreSnapshotPath } from "./render/backup";
import { Member, healthUrls, pkiFile, serviceNames } from "./render/flags";
import { healthCommand, sudoCommand, sudoScript } from "./render/scripts";

export interface EtcdRestoreArgs {
    /** Every master that stays: the member, how to reach it, and what must be in place before its restore. */
    masters: { member: Member; connection: pulumi.Input<Connection>; after: pulumi.Input<pulumi.Resource>[] }[];
    clusterName: string;
    /** The snapshot file on the machine running Pulumi, and its sha256 (what makes a restore happen once). */
    snapshot: { path: string; sha256: string };
}

/**
 * Restores every etcd member from one snapshot and brings the control plane back on it: the snapshot is copied to
 * each master; each member stops the control plane and etcd, keeps its old data aside and restores (names, peer URLs
 * and a token of the snapshot's own); only once every member has done so does etcd start anywhere, so no member can
 * bring old data back; the restored cluster is checked (see renderRestoreVerify), then every master starts its API
 * server, controller manager and scheduler. Each step's effect happens once per snapshot content as the hosts record
 * it: a step re-run because another input changed (the SSH key, the member list) finds the marker and changes nothing.
 */
export class EtcdRestore extends pulumi.ComponentResource {
    /** Done once every API server answers on the restored data. */
    public readonly done: pulumi.Resource[];

    constructor(name: string, args: EtcdRestoreArgs, opts?: pulumi.ComponentResourceOptions) {
        super("k8scp:index:EtcdRestore", name, {}, opts);
        const kept = { parent: this, retainOnDelete: true };
        const members = args.masters.map((m) => m.member);
        const { sha256 } = args.snapshot;
        const step = (
            id: string,
            connection: pulumi.Input<Connection>,
            create: string,
            dependsOn: pulumi.Input<pulumi.Resource>[],
            stdin?: string,
        ) =>
            new command.remote.Command(
                `${name}-${id}`,
                { connection, create, stdin, triggers: [sha256], logging: "stdoutAndStderr", addPreviousOutputInEnv: false },
                { ...kept, dependsOn },
            );
        const restored = args.masters.map(({ member, connection, after }) => {
            const copy = new command.remote.CopyToRemote(
                `${name}-${member.name}-snapshot`,
                {
                    connection,
                    source: hashedFileAsset(args.snapshot.path, sha256),
                    remotePath: restoreSnapshotPath,
                    triggers: copyTriggers(connection, sha256),
                },
                { ...kept, dependsOn: after },
            );
            const stdin = renderRestoreScript({ self: member, members, clusterName: args.clusterName, sha256 });
            return step(`${member.name}-restore`, connection, sudoScript("create"), [copy, ...after], stdin);
        });
        const started = args.masters.map(({ member, connection }) =>
            step(`${member.name}-start`, connection, sudoCommand(renderRestoreStart()), restored),
        );
        const first = args.masters[0];
        const healthy = step("etcd-healthy", first.connection, sudoScript("create"), started, renderRestoreVerify({ members, sha256 }));
        this.done = args.masters.map(({ member, connection }) =>
            step(
                `${member.name}-resume`,
                connection,
                sudoCommand(
                    renderResumeScript(
                        healthCommand({ url: healthUrls.apiserver(member.address), caFile: pkiFile(serviceNames.apiserver, "ca.pem") }),
                    ),
                ),
                [healthy],
            ),
        );
        this.registerOutputs({});
    }
}
