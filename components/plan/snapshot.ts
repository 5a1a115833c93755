// The newest etcd snapshot on each master, as the read-only probe reads it: a render/parse pair. Pure.
import { snapshotTool } from "../render/backup";

/** The probe's line for the newest snapshot on a master (`etcd-snapshot <time> <bytes> <path>`, empty when none). */
export const renderSnapshotProbe = () => `echo "etcd-snapshot $(${snapshotTool} list 2>/dev/null | head -n 1)"`;

/** The newest snapshot the probe found (`<time> <bytes> <path>`), or undefined when there is none. */
export const parseSnapshotProbe = (out: string): string | undefined => /^etcd-snapshot (.*)$/m.exec(out)?.[1].trim() || undefined;
