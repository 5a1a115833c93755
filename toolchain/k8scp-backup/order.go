package main

import (
	"path"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Snapshot names carry the time they were taken, in UTC: ...-YYYYmmddTHHMMSSZ.db, uploaded as ...Z.db.age.
// newest and prune order snapshots by that timestamp, not by S3's last-modified time (which is the upload time and
// changes when objects are copied between buckets):
//
//   - a snapshot is an object whose key ends in ".age" and whose base name (after the last '/') contains a
//     timestamp YYYYmmddTHHMMSSZ that is a valid time; when it holds several, the last one counts;
//   - newer = later timestamp; equal timestamps are ordered by the whole key, greater = newer;
//   - .age objects without a timestamp are never chosen by newest and never deleted by prune.
//
// The fixed-width format makes the string order the time order, so keys are compared as strings.
var timestampRE = regexp.MustCompile(`[0-9]{8}T[0-9]{6}Z`)

const timestampLayout = "20060102T150405Z"

// snapshotTimestamp returns the timestamp of a snapshot key, and false when key is not a snapshot (see above).
func snapshotTimestamp(key string) (string, bool) {
	if !strings.HasSuffix(key, ".age") {
		return "", false
	}
	all := timestampRE.FindAllString(path.Base(key), -1)
	if len(all) == 0 {
		return "", false
	}
	ts := all[len(all)-1]
	if _, err := time.Parse(timestampLayout, ts); err != nil {
		return "", false
	}
	return ts, true
}

// sortSnapshots returns the snapshot keys among keys, newest first, and the .age keys it left out (no timestamp).
func sortSnapshots(keys []string) (snapshots, undated []string) {
	ts := map[string]string{}
	for _, k := range keys {
		if t, ok := snapshotTimestamp(k); ok {
			ts[k] = t
			snapshots = append(snapshots, k)
		} else if strings.HasSuffix(k, ".age") {
			undated = append(undated, k)
		}
	}
	sort.Slice(snapshots, func(i, j int) bool {
		a, b := snapshots[i], snapshots[j]
		if ts[a] != ts[b] {
			return ts[a] > ts[b]
		}
		return a > b
	})
	return snapshots, undated
}

// pruneSet returns the snapshot keys to delete to keep the newest keep (>= 1) of them.
func pruneSet(keys []string, keep int) (del, undated []string) {
	s, undated := sortSnapshots(keys)
	if len(s) <= keep {
		return nil, undated
	}
	return s[keep:], undated
}
