// What ControlPlane does before it registers a resource on a host: checks the config, the SSH key, the binaries and
// the hosts (all problems at once), reads every master with the read-only probe and plans the day-2 change from
// what it found (plan/probePlan.ts). Touches hosts only to read them; a problem is thrown as one ConfigError.
import * as fs from "node:fs";
import * as path from "node:path";
import { renderSnapshotProbe } from "../plan/snapshot";
import { SnapshotUpload, renderUploadCredentials } from "../render/backup";
import { bucketRestorePrefix } from "../config/rules";
import { backupToolName, clearRestoreCache, fetchRestoreObject, uploadRecipient } from "./bucket";
import { checkConfig, ClusterConfig, ConfigError, configKey, isRsaHostKey } from "../config";
import { fileSha256 } from "./fileCache";
import { ObservedService } from "../plan/drift";
import { renderEtcdProbe } from "../plan/etcd";
import { serviceNames } from "../render/flags";
import { rsaPinOutcome } from "./hostKeys";
import { learnHostKeys, observeDrift } from "./observe";
import { planFromProbe } from "../plan/probePlan";
import {
    binDirProblems,
    expandHome,
    hostProblems,
    pinFromKnownHosts,
    readPrivateKey,
    snapshotCheck,
    sshGreeting,
    sshHosts,
    unpinnedProblems,
} from "./preflight";
import { renderVersionProbe } from "../plan/version";

/** Everything ControlPlane builds from: the checked config and the plans made from what the masters have. */
export interface Assessment {
    /** The validated config with defaults, each host's key pinned (from its hostKey or the known_hosts file). */
    config: ClusterConfig;
    /** The SSH private key's text. */
    sshPrivateKey: string;
    /** The local directory with the binaries (home expanded). */
    binDir: string;
    /** What each master has now, by master and unit; undefined when nothing was read. */
    observed?: Record<string, Record<string, ObservedService>>;
    /** Masters whose etcd joins the running cluster with `member add`. */
    etcdJoining: string[];
    /** The snapshot to restore every member from, once per content. */
    etcdRestore?: { path: string; sha256: string };
    /** The newest etcd snapshot on each master when this run started. */
    snapshots: Record<string, string>;
    /** Each master's last upload to the bucket when this run started (`<time> <key>`, or "none yet"). */
    uploaded: Record<string, string>;
    /** With etcdSnapshots.upload: the target (with the key's recipient), the local tool and the credentials file. */
    upload?: { target: SnapshotUpload; tool: { localPath: string; sha256: string }; credentials: string };
    /** Lines for the preview: what this run will do (`info`) and what weakens the cluster (`warn`). */
    messages: { info: string[]; warn: string[] };
}

export interface AssessOptions {
    /** Top-level config keys that hold a secret (the plain-text check of sshPrivateKey). Default: none. */
    secretKeys?: readonly string[];
    /** The binaries' directory when the config has no binDir. Default: none (binDir is then required). */
    defaultBinDir?: string;
}

/** Checks and reads everything before a change; throws a ConfigError with every problem found. */
export async function assessHosts(raw: unknown, opts: AssessOptions = {}): Promise<Assessment> {
    const { config, partial, problems, warnings } = checkConfig(raw, opts.secretKeys ?? []);
    const messages = { info: [] as string[], warn: [...warnings] };

    const sshKey = readPrivateKey(partial);
    problems.push(...sshKey.problems);

    const binDirGiven = (raw as { binDir?: unknown } | undefined)?.binDir !== undefined;
    const binDir = binDirGiven ? partial.binDir : opts.defaultBinDir;
    const hosts = sshHosts(partial);
    const pinProblems = [...pinFromKnownHosts(hosts, partial.knownHostsFile), ...unpinnedProblems(hosts, partial.knownHostsFile)];
    const active = config?.masters.filter((m) => !m.gone) ?? [];
    if (config)
        for (const h of [...config.masters, config.loadBalancer])
            h.hostKey ??= hosts.find((x) => x.address === h.address && x.port === h.sshPort)?.hostKey;
    // With a valid config, the read-only drift probe (below) starts with the binary checks. Its SSH session checks the
    // pinned host key strictly, so a master it read is reachable and presents its key. The checks that say what is
    // wrong with a host (a TCP probe and a key scan, about a second) run for the others: the load balancer, and a
    // master the probe could not read. `preflight: false` skips only those: the probe runs always, since the etcd
    // membership plan, the version-skew check and joiner detection depend on what it reads.
    const probed =
        config && sshKey.text && !pinProblems.length
            ? active.map((m) => ({
                  key: configKey(["masters", config.masters.indexOf(m)]),
                  ...m,
                  port: m.sshPort,
                  user: m.sshUser,
                  hostKey: m.hostKey!,
              }))
            : [];
    // The kube-apiserver of this binDir, to recognise on the masters without starting it there.
    const localApiserver = binDir !== undefined ? path.join(expandHome(binDir), "kube-apiserver") : undefined;
    const known =
        localApiserver && partial.kubernetesVersion && fs.existsSync(localApiserver)
            ? { sha256: fileSha256(localApiserver), version: partial.kubernetesVersion }
            : undefined;
    const isProbed = (h: { key: string }) => probed.some((p) => p.key === h.key);
    // A load balancer pinned by an RSA key (not probed) gets a session of its own to learn its other host keys
    // (learnHostKeys), after the host checks say it is reachable and presents the pinned key.
    const lb = hosts.find((h) => h.key === configKey(["loadBalancer"]));
    const lbRsa = config && sshKey.text && !pinProblems.length && lb?.hostKey && isRsaHostKey(lb.hostKey) ? lb : undefined;
    const lbLearn = async (): Promise<{ problems: string[]; proved?: string[] }> => {
        if (!lbRsa || !config) return { problems: [] };
        const found = partial.preflight !== false ? await hostProblems([lbRsa], partial.knownHostsFile) : [];
        if (found.length) return { problems: found };
        const r = (await learnHostKeys([{ ...lbRsa, user: config.loadBalancer.sshUser, hostKey: lbRsa.hostKey! }], sshKey.text!))[
            lbRsa.key
        ];
        if (r.err === undefined) return { problems: [], proved: r.proved };
        return {
            problems: [
                `${lbRsa.key}: an SSH session to ${lbRsa.name} (${lbRsa.address}:${lbRsa.port}) failed (${r.err}); the deployment logs in there as ${config.loadBalancer.sshUser} with the SSH key, so that must work (the session learns its other host keys, since its pin is RSA)`,
            ],
        };
    };
    const [binaryProblems, drift, othersReach, lbKeys] = await Promise.all([
        binDir !== undefined || !binDirGiven
            ? binDirProblems(binDir, { kubernetes: partial.kubernetesVersion, etcd: partial.etcdVersion }, binDirGiven)
            : [],
        probed.length
            ? observeDrift(probed, sshKey.text!, Object.values(serviceNames), (h) => [
                  renderEtcdProbe(h),
                  renderSnapshotProbe(),
                  renderVersionProbe(known),
              ])
            : undefined,
        partial.preflight !== false
            ? hostProblems(
                  hosts.filter((h) => !isProbed(h) && h !== lbRsa),
                  partial.knownHostsFile,
              )
            : [],
        lbLearn(),
    ]);
    // A master the probe could not read: what the host checks find, else the probe's own error (e.g. sudo asked for a password).
    const mastersReach = await Promise.all(
        probed
            .filter((p) => drift && !(p.name in drift.raw))
            .map(async (p) => {
                const found = await hostProblems(
                    hosts.filter((h) => h.key === p.key),
                    partial.knownHostsFile,
                );
                return found.length ? found : drift!.problems.filter((x) => x.startsWith(`${p.key}:`));
            }),
    );
    problems.push(...binaryProblems, ...pinProblems, ...mastersReach.flat(), ...othersReach, ...lbKeys.problems);

    // An RSA pin gives way to a stronger key the host proved in its session (the probe's, or the load balancer's);
    // an RSA-only host is a problem (rsaPinOutcome). The greeting, for its OpenSSH version, only for an RSA-only host.
    const proved: Record<string, string[]> = {};
    if (lbRsa && lbKeys.proved) proved[lbRsa.key] = lbKeys.proved;
    for (const p of probed) if (drift?.proved[p.name]) proved[p.key] = drift.proved[p.name];
    const outcomes = await Promise.all(
        hosts
            .filter((h) => h.key in proved)
            .map(async (h) => {
                const keys = proved[h.key];
                const greeting = keys.every(isRsaHostKey) ? await sshGreeting(h.address, h.port) : undefined;
                return { h, ...rsaPinOutcome({ ...h, hostKey: h.hostKey! }, keys, greeting) };
            }),
    );
    for (const o of outcomes) {
        if (o.problem) problems.push(o.problem);
        if (o.warn) messages.warn.push(o.warn);
        if (o.info) messages.info.push(o.info);
        o.h.hostKey = o.hostKey;
        for (const c of config ? [...config.masters, config.loadBalancer] : [])
            if (c.address === o.h.address && c.sshPort === o.h.port) c.hostKey = o.hostKey;
    }

    // The snapshot bucket: the tool, the encryption key's recipient and the CA, checked on this machine.
    const uploadConfig = config?.etcdSnapshots.upload;
    const uploadPrefix = uploadConfig?.prefix ?? config?.clusterName ?? "";
    const tool = binDir !== undefined ? path.join(expandHome(binDir), backupToolName) : undefined;
    let upload: Assessment["upload"];
    if (uploadConfig && tool) {
        if (!fs.existsSync(tool))
            problems.push(
                `${configKey(["etcdSnapshots", "upload"])}: ${tool} is missing; build it with 'npm run toolchain' (or copy ${backupToolName} into binDir)`,
            );
        else {
            const r = await uploadRecipient(tool, uploadConfig);
            let caPem: string | undefined;
            if (uploadConfig.caFile !== undefined) {
                try {
                    caPem = fs.readFileSync(expandHome(uploadConfig.caFile), "utf8");
                    if (!caPem.includes("-----BEGIN CERTIFICATE-----")) throw new Error("no PEM certificate in it");
                } catch (e) {
                    problems.push(
                        `${configKey(["etcdSnapshots", "upload", "caFile"])}: ${uploadConfig.caFile}: ${(e as Error).message}; give a PEM file of the CA`,
                    );
                }
            }
            if (r.problem) problems.push(r.problem);
            else
                upload = {
                    target: {
                        endpoint: uploadConfig.endpoint,
                        bucket: uploadConfig.bucket,
                        prefix: uploadPrefix,
                        region: uploadConfig.region,
                        retention: uploadConfig.retention ?? config!.etcdSnapshots.retention,
                        recipient: r.recipient!,
                        caPem,
                    },
                    tool: { localPath: tool, sha256: fileSha256(tool) },
                    credentials: renderUploadCredentials(uploadConfig),
                };
        }
    }

    // Decrypted snapshots stay on this machine only while a restore from the bucket is configured.
    if (!partial.etcdRestoreFrom?.startsWith(bucketRestorePrefix))
        for (const f of clearRestoreCache())
            messages.info.push(`removed the decrypted snapshot ${f} of an earlier restore from the bucket`);
    let etcdRestore: { path: string; sha256: string } | undefined;
    if (partial.etcdRestoreFrom !== undefined && binDir !== undefined && fs.existsSync(path.join(expandHome(binDir), "etcdutl"))) {
        let file: string | undefined = partial.etcdRestoreFrom;
        let object: string | undefined;
        if (file.startsWith(bucketRestorePrefix)) {
            file = undefined;
            if (uploadConfig && upload && tool) {
                const got = await fetchRestoreObject(tool, uploadConfig, uploadPrefix, partial.etcdRestoreFrom);
                if (got.problem) problems.push(got.problem);
                else ({ file, object } = got);
            }
        }
        if (file !== undefined) {
            const r = await snapshotCheck(file, path.join(expandHome(binDir), "etcdutl"));
            if (r.problem) problems.push(r.problem);
            else {
                etcdRestore = { path: r.path!, sha256: r.sha256! };
                const source = object ? `bucket object ${object} (uploaded, bytes, key), decrypted to ${r.path}` : r.path;
                messages.info.push(
                    `etcd restore from ${source} (sha256 ${r.sha256!.slice(0, 12)}; hash, revision, keys, size, version: ${r.status}): runs once for this snapshot`,
                );
            }
        }
    }

    // Each host check run may name the missing ssh-keyscan once.
    if (!config || problems.length || !sshKey.text || !binDir) throw new ConfigError([...new Set(problems)]);
    const base = { config, sshPrivateKey: sshKey.text, binDir: expandHome(binDir), etcdRestore, upload, messages };
    if (!drift) return { ...base, etcdJoining: [], snapshots: {}, uploaded: {} };
    const plan = planFromProbe(config, drift.raw, drift.observed, etcdRestore?.sha256);
    if (plan.problems.length) throw new ConfigError(plan.problems);
    messages.info.push(...plan.infos);
    return { ...base, observed: plan.observed, etcdJoining: plan.etcdJoining, snapshots: plan.snapshots, uploaded: plan.uploaded };
}
