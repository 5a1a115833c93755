#!/usr/bin/env python3
# BSD process accounting (the acct(2) call; root), which records every process of every pid namespace when it exits:
# acct.py on FILE | off | report FILE. The report sums CPU by command name; processes still running are not in it.
import ctypes, sys, struct, collections, os
libc = ctypes.CDLL(None, use_errno=True)
if sys.argv[1] == "on":
    open(sys.argv[2], "wb").close()
    if libc.acct(sys.argv[2].encode()) != 0: raise OSError(ctypes.get_errno(), "acct")
    sys.exit(0)
if sys.argv[1] == "off":
    libc.acct(None); sys.exit(0)
def comp(c):
    return (c & 0x1fff) << (3 * ((c >> 13) & 7))
data = open(sys.argv[2], "rb").read()
HZ = 100
agg = collections.Counter(); cnt = collections.Counter()
for off in range(0, len(data) - 63, 64):
    r = data[off:off+64]
    flag, ver = r[0], r[1]
    if ver != 3: continue
    # struct acct_v3: char flag, version; u16 tty; u32 exitcode, uid, gid, pid, ppid, btime; float etime; comp_t utime, stime, mem, io, rw, minflt, majflt, swaps; char comm[16]
    exitcode, uid, gid, pid, ppid, btime = struct.unpack_from("<IIIIII", r, 4)
    ut, st = struct.unpack_from("<HH", r, 32)
    comm = r[48:64].split(b"\0")[0].decode(errors="replace")
    cpu = (comp(ut) + comp(st)) / HZ
    agg[comm] += cpu; cnt[comm] += 1
tot = sum(agg.values())
print(f"processes {sum(cnt.values())}, cpu {tot:.1f} s")
for k, v in agg.most_common(40): print(f"{v:7.2f} s {cnt[k]:6d} x {k}")
