// What a script records on its host (render): the `sha256sum` lines of what it wrote and the repair marker it ran
// with, in root-only files under /var/lib/k8scp, which the drift probe (plan/drift.ts) checks. Pure: script lines.
import { paths } from "./flags";

export const stateDir = "/var/lib/k8scp";
/** The name of the master a host belongs to: written by its host step, read by its cleanup and the probe. */
export const masterMarker = `${stateDir}/master`;
/** The files in which a script records what it wrote (`sha256sum` lines) and the repair marker it ran with. */
export const recordFiles = (unit: string, step: "service" | "files") => ({
    sums: `${stateDir}/${unit}.${step}.sums`,
    marker: `${stateDir}/${unit}.${step}.repair`,
});

/** What identifies a recorded file without reading it: name, size, modification time (ns), inode. */
export const statFormat = "%n %s %.9Y %i";

/**
 * Script lines (for create and update) that record what a step wrote and its marker. `written` are absolute
 * paths, hashed here; `verified` are files the script has just checked against a known sha256 (the installed
 * binaries: hundreds of MB a master), recorded with that sum instead of being read again. The recorded sums are
 * what the probe checks.
 */
export function recordLines(
    unit: string,
    step: "service" | "files",
    written: string[],
    marker: string,
    verified: { path: string; sha256: string }[] = [],
): string {
    const f = recordFiles(unit, step);
    const all = [...written, ...verified.map((v) => v.path)].map((w) => `'${w}'`).join(" ");
    const sums = [
        ...(written.length ? [`sha256sum ${written.map((w) => `'${w}'`).join(" ")}`] : []),
        ...verified.map((v) => `echo '${v.sha256}  ${v.path}'`),
    ];
    return [
        `install -d -m 0755 -o root -g root ${stateDir}`,
        sums.length ? `{ ${sums.join("; ")}; } > ${f.sums}.tmp && mv -f ${f.sums}.tmp ${f.sums}` : `: > ${f.sums}`,
        all ? `stat -c '${statFormat}' ${all} > ${f.sums}.stat` : `rm -f ${f.sums}.stat`,
        `chmod 0600 ${f.sums}`,
        marker ? `echo ${marker} > ${f.marker}` : `rm -f ${f.marker}`,
    ].join("\n");
}

/** Script lines for delete: forget the records of a step. */
export const forgetLines = (unit: string, step: "service" | "files") => {
    const f = recordFiles(unit, step);
    return `rm -f ${f.sums} ${f.sums}.stat ${f.marker}`;
};

/** Binary paths as installed (for the service step's record). */
export const installedBinary = (name: string) => `${paths.bin}/${name}`;
