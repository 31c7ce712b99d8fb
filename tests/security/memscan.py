#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Looks for secrets in a live process's memory (run as root).

    memscan.py [--sanitizer-environ] PID NEEDLES

NEEDLES has one line per secret: "never LABEL SECRET" (must be found
nowhere), "secure LABEL SECRET" (must be found in OpenSSL's secure heap,
and nowhere else), "once LABEL SECRET" (exactly one copy, wherever it is:
a value the daemon keeps for its whole life outside the secure heap, such
as the proxy's Proxy-Authorization value, and never copies) or "stack
LABEL SECRET" (only in the main thread's [stack] mapping, where the kernel
put the environment block: a value the daemon reads from its environment
and never copies).  Every readable mapping of PID is read through
/proc/PID/mem, only the pages /proc/PID/pagemap says are present (an
untouched page holds nothing), in runs of contiguous present pages so a
secret across a page boundary is still seen.

The secure heap is recognised by how OpenSSL makes it (crypto/mem_sec.c,
sh_init): one anonymous mmap whose first and last pages are made PROT_NONE
guard pages and the whole of which is madvise(MADV_DONTDUMP)'d.  In
/proc/PID/smaps that is a read-write anonymous mapping with the "dd" flag,
directly between two one-page "---p" mappings.  Nothing else in the daemon
looks like that (thread stacks have a guard below only, and no "dd").

--sanitizer-environ: the process is an ASan build.  The sanitizer runtime
reads /proc/self/environ into a buffer of its own before main() (its
GetEnv), which the program can neither see nor wipe.  A copy of the
environment block outside [stack] (recognised by the block's first bytes,
as /proc/PID/environ shows them) is then reported but not held against
the rules.

Mappings larger than SKIP_LARGER are skipped and named in the output:
AddressSanitizer's shadow (terabytes, reserved, never application bytes).

Prints what it found; exits 0 when every rule holds, 1 when one does not,
2 on a usage or access error.
"""
import re
import sys

PAGE = 4096
SKIP_LARGER = 64 << 30
CHUNK_PAGES = 4096  # read at most 16 MiB at once


def mappings(pid):
    """(start, end, perms, name, vmflags) for each mapping, from smaps."""
    maps = []
    cur = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$", line)
            if m:
                cur = [int(m.group(1), 16), int(m.group(2), 16), m.group(3), m.group(4).strip(), ""]
                maps.append(cur)
            elif line.startswith("VmFlags:") and cur is not None:
                cur[4] = line.split(":", 1)[1].strip()
    return [tuple(m) for m in maps]


def secure_heaps(maps):
    found = []
    for i in range(1, len(maps) - 1):
        lo, mid, hi = maps[i - 1], maps[i], maps[i + 1]
        if (mid[2].startswith("rw") and mid[3] == "" and "dd" in mid[4].split()
                and lo[2] == "---p" and lo[1] - lo[0] == PAGE and lo[1] == mid[0]
                and hi[2] == "---p" and hi[1] - hi[0] == PAGE and hi[0] == mid[1]):
            found.append((mid[0], mid[1]))
    return found


def present_runs(pagemap, start, end):
    """Runs (start, end) of present pages in [start, end)."""
    runs = []
    addr = start
    while addr < end:
        n = min((end - addr) // PAGE, CHUNK_PAGES)
        pagemap.seek((addr // PAGE) * 8)
        data = pagemap.read(n * 8)
        for k in range(len(data) // 8):
            entry = int.from_bytes(data[k * 8:k * 8 + 8], "little")
            a = addr + k * PAGE
            if entry >> 63 & 1:
                if runs and runs[-1][1] == a and runs[-1][1] - runs[-1][0] < CHUNK_PAGES * PAGE:
                    runs[-1][1] = a + PAGE
                else:
                    runs.append([a, a + PAGE])
        addr += n * PAGE
    return runs


def main():
    args = sys.argv[1:]
    sanitizer_environ = bool(args) and args[0] == "--sanitizer-environ"
    if sanitizer_environ:
        args = args[1:]
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    pid = int(args[0])
    needles = []
    with open(args[1]) as f:
        for line in f:
            if line.strip():
                mode, label, secret = line.split()
                needles.append((mode, label, secret.encode()))
    env_len = 0
    if sanitizer_environ:
        with open(f"/proc/{pid}/environ", "rb") as f:
            block = f.read()
        env_len = len(block)
        needles.append(("environ", "environ-copy", block[:128]))
    maps = mappings(pid)
    heaps = secure_heaps(maps)
    for h in heaps:
        print(f"secure heap: {h[0]:x}-{h[1]:x} ({(h[1] - h[0]) // 1024} KiB)")
    hits = {label: [] for _, label, _ in needles}
    overlap = max(len(s) for _, _, s in needles)
    scanned = 0
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem, open(f"/proc/{pid}/pagemap", "rb") as pagemap:
        for start, end, perms, name, _ in maps:
            if perms[0] != "r" or name in ("[vvar]", "[vsyscall]", "[vvar_vclock]"):
                continue
            if end - start > SKIP_LARGER:
                print(f"skipped: {start:x}-{end:x} {perms} {name} ({(end - start) >> 30} GiB)")
                continue
            prev = b""
            prev_end = None
            for rs, re_ in present_runs(pagemap, start, end):
                try:
                    mem.seek(rs)
                    data = mem.read(re_ - rs)
                except OSError:
                    continue
                scanned += len(data)
                # A run that continues the last one keeps its tail, so a
                # secret split across the two is still seen.
                base = rs
                if prev_end == rs:
                    data = prev + data
                    base = rs - len(prev)
                for mode, label, s in needles:
                    i = data.find(s)
                    while i >= 0:
                        a = base + i
                        where = "secure-heap" if any(h[0] <= a < h[1] for h in heaps) else \
                            f"{start:x}-{end:x} {perms} {name or '[anon]'}"
                        ctx = data[max(0, i - 40):i].decode("ascii", "backslashreplace")
                        hits[label].append((a, where, ctx))
                        i = data.find(s, i + 1)
                prev = data[-(overlap - 1):] if overlap > 1 else b""
                prev_end = re_
    print(f"scanned {scanned // 1024} KiB in {len(maps)} mappings")
    copies = [a for a, w, _ in hits.get("environ-copy", []) if not w.endswith(" [stack]")]
    for a in sorted(set(copies)):
        print(f"sanitizer's copy of the environment block: {a:x}-{a + env_len:x}")
    bad = 0
    for mode, label, _ in needles:
        if mode == "environ":
            continue
        in_copy = sorted(set(a for a, _, _ in hits[label] if any(c <= a < c + env_len for c in copies)))
        for a in in_copy:
            print(f"  {label}: at {a:x} in the sanitizer's copy of the environment block (not the program's)")
        found = sorted(set((a, w) for a, w, _ in hits[label] if a not in in_copy))
        before = {a: c for a, _, c in hits[label]}
        outside = [h for h in found if h[1] != "secure-heap"]
        inside = [h for h in found if h[1] == "secure-heap"]
        for a, where in found:
            print(f"  {label}: at {a:x} in {where}, after {before[a]!r}")
        if mode == "never" and found:
            print(f"FOUND {label}: {len(found)} copies, it should be nowhere")
            bad += 1
        elif mode == "secure" and outside:
            print(f"FOUND {label}: {len(outside)} copies outside the secure heap")
            bad += 1
        elif mode == "secure" and not inside:
            print(f"MISSING {label}: not in the secure heap (is the scan blind?)")
            bad += 1
        elif mode == "once" and len(found) != 1:
            print(f"FOUND {label}: {len(found)} copies, there should be exactly one")
            bad += 1
        elif mode == "stack" and (not found or any(not w.endswith(" [stack]") for _, w in found)):
            print(f"FOUND {label}: {len([w for _, w in found if not w.endswith(' [stack]')])} copies outside "
                  f"[stack], {len(found)} in all; it should be only in the environment block")
            bad += 1
        else:
            print(f"ok {label}: {len(inside)} in the secure heap, {len(outside)} elsewhere")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
