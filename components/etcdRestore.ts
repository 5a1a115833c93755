import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { Connection, hashedFileAsset } from "./controlPlaneService";
import { renderRestoreScript, renderResumeScript, restoreSnapshotPath } from "./lib/backup";
import { renderEtcdHealthWait } from "./lib/etcd";
import { Member, healthUrls, pkiFile, serviceNames } from "./lib/flags";
import { healthCommand, sudoCommand, sudoScript } from "./lib/scripts";

export interface EtcdRestoreArgs {
    /** Every master that stays: the member, how to reach it, and what must be in place before its restore. */
    masters: { member: Member; connection: pulumi.Input<Connection>; after: pulumi.Input<pulumi.Resource>[] }[];
    clusterName: string;
    /** The snapshot file on the machine running Pulumi, and its sha256 (what makes a restore happen once). */
    snapshot: { path: string; sha256: string };
}

/**
 * Restores every etcd member from one snapshot and brings the control plane back on it: the snapshot is copied to
 * each master; each member stops the control plane, keeps its old data aside and restores (names, peer URLs and
 * token as the library renders them); once etcd is healthy again, every master starts its API server, controller
 * manager and scheduler. All of it happens once per snapshot content: the steps re-run only when the sha changes.
 */
export class EtcdRestore extends pulumi.ComponentResource {
    /** Done once every API server answers on the restored data. */
    public readonly done: pulumi.Resource[];

    constructor(name: string, args: EtcdRestoreArgs, opts?: pulumi.ComponentResourceOptions) {
        super("k8scp:index:EtcdRestore", name, {}, opts);
        const kept = { parent: this, retainOnDelete: true };
        const members = args.masters.map((m) => m.member);
        const { sha256 } = args.snapshot;
        const restored = args.masters.map(({ member, connection, after }) => {
            const copy = new command.remote.CopyToRemote(
                `${name}-${member.name}-snapshot`,
                { connection, source: hashedFileAsset(args.snapshot.path, sha256), remotePath: restoreSnapshotPath, triggers: [sha256] },
                { ...kept, dependsOn: after },
            );
            return new command.remote.Command(
                `${name}-${member.name}-restore`,
                {
                    connection,
                    create: sudoScript("create"),
                    stdin: renderRestoreScript({ self: member, members, clusterName: args.clusterName, sha256 }),
                    triggers: [sha256],
                    logging: "stdoutAndStderr",
                },
                { ...kept, dependsOn: [copy, ...after] },
            );
        });
        const first = args.masters[0];
        const healthy = new command.remote.Command(
            `${name}-etcd-healthy`,
            {
                connection: first.connection,
                create: sudoCommand(renderEtcdHealthWait(members, " on the restored data")),
                triggers: [sha256],
                logging: "stdoutAndStderr",
            },
            { ...kept, dependsOn: restored },
        );
        this.done = args.masters.map(
            ({ member, connection }) =>
                new command.remote.Command(
                    `${name}-${member.name}-resume`,
                    {
                        connection,
                        create: sudoCommand(
                            renderResumeScript(
                                healthCommand({
                                    url: healthUrls.apiserver(member.address),
                                    caFile: pkiFile(serviceNames.apiserver, "ca.pem"),
                                }),
                            ),
                        ),
                        triggers: [sha256],
                        logging: "stdoutAndStderr",
                    },
                    { ...kept, dependsOn: [healthy] },
                ),
        );
        this.registerOutputs({});
    }
}
