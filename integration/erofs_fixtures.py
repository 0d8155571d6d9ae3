#!/usr/bin/env python3
"""Fixtures and tree listings for integration/test_erofs_ref.sh.

  erofs_fixtures.py list ROOT [--serve]
      One line per entry under ROOT (sorted): type, permission bits, owner,
      link count, mtime in ns, size, symlink target, hard-link group (the
      first path of the inode), xattrs, and the sha256 of each file's bytes
      (files over 64 MiB: their size and the hashes of a few 4 KiB spots).
      --serve shows the tree as our default mode serves it: owned by root,
      modes & 0755 (symlinks 0777), no xattrs.
  erofs_fixtures.py tree DIR
      A source tree exercising what tars carry: sizes around a block, long
      names and paths, hard links, symlinks, empty files and directories,
      special mode bits, owners, nanosecond times, user xattrs.
  erofs_fixtures.py pytar OUT
      A PAX tar written by Python's tarfile: owners past 2^31, binary xattr
      values, a symlink target longer than a block, times before 1970, a
      contiguous file (type 7).
  erofs_fixtures.py many DIR N
      N small files in DIR, spread over subdirectories.
  erofs_fixtures.py hugetar OUT SIZE
      A GNU tar holding a SIZE-byte file of zeros between two small files,
      sparse on disk: the data is a hole, never written.
"""
import hashlib
import io
import os
import stat
import sys
import tarfile

SPOT = 4096
BIG = 64 << 20


def digest(path, size):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        if size <= BIG:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
            return h.hexdigest()
        spots = {0, size // 2, size - SPOT}
        if size > (4 << 30):
            spots |= {(4 << 30) - SPOT, 4 << 30}
        for off in sorted(spots):
            h.update(os.pread(f.fileno(), SPOT, off))
    return "spots:" + h.hexdigest()


def listing(root, serve):
    paths = []
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            paths.append(os.path.join(dirpath, n))
    paths.sort()
    groups = {}
    out = []
    for p in [root] + paths:
        rel = os.path.relpath(p, root)
        st = os.lstat(p)
        mode = stat.S_IMODE(st.st_mode)
        kind = "d" if stat.S_ISDIR(st.st_mode) else \
            "l" if stat.S_ISLNK(st.st_mode) else \
            "f" if stat.S_ISREG(st.st_mode) else "?"
        uid, gid = st.st_uid, st.st_gid
        xattrs = []
        if not serve:
            for name in sorted(os.listxattr(p, follow_symlinks=False)):
                v = os.getxattr(p, name, follow_symlinks=False)
                xattrs.append("%s=%s" % (name, v.hex()))
        else:
            uid = gid = 0
            mode = 0o777 if kind == "l" else mode & 0o755
        line = "%s %s %04o %d:%d nlink=%d mtime=%d" % (
            rel, kind, mode, uid, gid, st.st_nlink, st.st_mtime_ns)
        if kind == "f":
            line += " size=%d %s" % (st.st_size, digest(p, st.st_size))
            if st.st_nlink > 1:
                line += " hl=" + groups.setdefault(st.st_ino, rel)
        elif kind == "l":
            line += " -> " + os.readlink(p)
        if xattrs:
            line += " xattrs=" + ",".join(xattrs)
        out.append(line)
    return out


def make_tree(d):
    def write(rel, data, mode=0o644):
        p = os.path.join(d, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
        os.chmod(p, mode)
        return p

    for size in (0, 1, 511, 512, 513, 4096, 100000):
        write("sizes/s%d" % size, os.urandom(size))
    long1 = "n" * 120
    deep = os.path.join(*(["d" * 90] * 3), "e" * 200)  # path > 255 bytes
    write(os.path.join("long", long1), b"long name\n")
    write(os.path.join("long", deep), b"long path\n")
    p = write("links/orig", b"shared bytes\n")
    os.link(p, os.path.join(d, "links/hard1"))
    os.link(p, os.path.join(d, "links/hard2"))
    os.symlink("orig", os.path.join(d, "links/sym"))
    os.symlink("../sizes", os.path.join(d, "links/dirsym"))
    os.symlink("not-there", os.path.join(d, "links/dangling"))
    # Names that sort before "." and ".." (lookups bisect the entries).
    for name in ("!bang", " space", "-dash", "+plus", ".hidden", "..dots",
                 "\u00e9t\u00e9", "raw\udcff"):
        write(os.path.join("order", name), name.encode("utf-8",
                                                     "surrogateescape"))
    os.makedirs(os.path.join(d, "empty/dir"))
    write("empty/file", b"")
    write("modes/setuid", b"#!/bin/sh\n", 0o4755)
    write("modes/group-writable", b"g\n", 0o664)
    os.makedirs(os.path.join(d, "modes/sticky"))
    os.chmod(os.path.join(d, "modes/sticky"), 0o1777)
    p = write("owners/f", b"owned\n")
    os.chown(p, 1234, 5678)
    os.chown(os.path.join(d, "owners"), 70000, 70001)
    p = write("xattrs/f", b"with xattrs\n")
    os.setxattr(p, "user.model", b"qwen")
    os.setxattr(p, "user.bin", bytes(range(0, 40)))
    # Fixed times, with nanoseconds, children before parents.
    t = 1700000000
    paths = []
    for dirpath, dirnames, filenames in os.walk(d):
        for n in dirnames + filenames:
            paths.append(os.path.join(dirpath, n))
    for i, p in enumerate(sorted(paths, key=len, reverse=True) + [d]):
        os.utime(p, ns=((t + i) * 10**9 + 123456789 * (i % 2),) * 2,
                 follow_symlinks=False)


def add(t, name, kind=tarfile.REGTYPE, data=b"", **kw):
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.mtime = kw.pop("mtime", 1700000000)
    for k, v in kw.items():
        setattr(ti, k, v)
    if kind in (tarfile.REGTYPE, tarfile.CONTTYPE):
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
    else:
        t.addfile(ti)


def pytar(out):
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
        # The root named: mkfs.erofs makes an unnamed root 0777, we 0755.
        add(t, ".", tarfile.DIRTYPE, mode=0o755)
        add(t, "py", tarfile.DIRTYPE, mode=0o755)
        add(t, "py/big-owner", data=b"owner\n", uid=3000000000,
            gid=3000000001)
        add(t, "py/xattrs", data=b"x\n", pax_headers={
            "SCHILY.xattr.user.text": "value",
            "SCHILY.xattr.trusted.t": "trusted value",
            "SCHILY.xattr.user.bin": "\x01\x02\xff"})
        add(t, "py/longlink", tarfile.SYMTYPE, mode=0o777,
            linkname="../" + "t" * 200 + "/" + "u" * 200 + "/" + "v" * 200)
        add(t, "py/old", data=b"before 1970\n", mtime=-86400 * 365)
        add(t, "py/frac", data=b"ns\n", pax_headers={
            "mtime": "1700000000.987654321"})
        add(t, "py/hl", tarfile.LNKTYPE, linkname="py/frac")
        # Type 7 (contiguous): a regular file to mkfs.erofs and to us.
        add(t, "py/contig", tarfile.CONTTYPE, data=b"contiguous\n")


def many(d, n):
    for i in range(n):
        sub = os.path.join(d, "dir%02d" % (i % 50))
        os.makedirs(sub, exist_ok=True)
        with open(os.path.join(sub, "file%05d.txt" % i), "w") as f:
            f.write("file %d\n" % i)


def hugetar(out, size):
    with open(out, "wb") as f:
        def entry(name, n, data=None):
            ti = tarfile.TarInfo(name)
            ti.size = n
            ti.mtime = 1700000000
            f.write(ti.tobuf(format=tarfile.GNU_FORMAT))
            if data is not None:
                f.write(data + b"\0" * (-len(data) % 512))
            else:
                f.seek(n + (-n % 512), os.SEEK_CUR)
        ti = tarfile.TarInfo("./")
        ti.type = tarfile.DIRTYPE
        ti.mode = 0o755
        ti.mtime = 1700000000
        f.write(ti.tobuf(format=tarfile.GNU_FORMAT))
        entry("before", 6, b"start\n")
        entry("big", size)
        entry("after", 4, b"end\n")
        f.write(b"\0" * 1024)


def main():
    cmd = sys.argv[1]
    if cmd == "list":
        text = "\n".join(listing(sys.argv[2], "--serve" in sys.argv[3:]))
        # Names are bytes: a name that is not UTF-8 goes out as it is.
        sys.stdout.buffer.write(text.encode("utf-8", "surrogateescape")
                                + b"\n")
    elif cmd == "tree":
        make_tree(sys.argv[2])
    elif cmd == "pytar":
        pytar(sys.argv[2])
    elif cmd == "many":
        many(sys.argv[2], int(sys.argv[3]))
    elif cmd == "hugetar":
        hugetar(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
