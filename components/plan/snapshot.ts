// The newest etcd snapshot on each master, and its last upload to the bucket, as the read-only probe reads them: a
// render/parse pair. Pure.
import { snapshotTool } from "../render/backup";

/**
 * The probe's lines: the newest snapshot on the master (`etcd-snapshot <time> <bytes> <path>`) and its last upload
 * (`etcd-snapshot-uploaded <time> <key>`), each empty after the tag when there is none.
 */
export const renderSnapshotProbe = () =>
    `echo "etcd-snapshot $(${snapshotTool} list 2>/dev/null | head -n 1)"
echo "etcd-snapshot-uploaded $(${snapshotTool} uploaded 2>/dev/null | head -n 1)"`;

/** The newest snapshot the probe found (`<time> <bytes> <path>`), or undefined when there is none. */
export const parseSnapshotProbe = (out: string): string | undefined => /^etcd-snapshot (.*)$/m.exec(out)?.[1].trim() || undefined;

/** The last upload the probe found (`<time> <key>`), or undefined when there is none. */
export const parseUploadProbe = (out: string): string | undefined => /^etcd-snapshot-uploaded (.*)$/m.exec(out)?.[1].trim() || undefined;
