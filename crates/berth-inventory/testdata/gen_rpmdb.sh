#!/usr/bin/env bash
# Regenerate the rpm databases of the test root filesystems, with Debian's real rpm tools:
#
#   rootfs/rocky9/var/lib/rpm/rpmdb.sqlite   written by rpm itself (--justdb installs)
#   rootfs/centos7/var/lib/rpm/Packages      the same headers in a BerkeleyDB hash file, written
#                                            by BerkeleyDB 5.3 itself (db5.3_load), keyed by
#                                            4-byte record numbers as rpm's bdb backend keys them
#
# The packages are tiny noarch rpms built here with rpmbuild: no real CentOS 7 `Packages` file
# can be had from a package registry, so these stand in for one. The result is checked by reading
# it back with rpm's own read-only BerkeleyDB backend (`_db_backend bdb_ro`).
# Needs Debian's `rpm` and `db-util` (`apt-get install rpm db-util`).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

spec() { # binary source version release epoch vendor license
    local sub=""
    [[ "$1" != "$2" ]] && sub="${1#"$2"-}"
    cat >"$work/$1.spec" <<SPEC
Name: $2
Version: $3
Release: $4
${5:+Epoch: $5}
Summary: berth test package $1
License: $7
Vendor: $6
BuildArch: noarch
%description
A package that only exists in berth's test data.
${sub:+%package $sub
Summary: berth test subpackage $1
%description $sub
A subpackage, so that its source rpm has another name.}
%install
mkdir -p %{buildroot}/usr/share/$1 %{buildroot}/usr/lib/python3.9/site-packages/$1-$3.dist-info
echo $1 > %{buildroot}/usr/share/$1/README
printf 'Metadata-Version: 2.1\nName: $1\nVersion: $3\n' > %{buildroot}/usr/lib/python3.9/site-packages/$1-$3.dist-info/METADATA
%files ${sub}
/usr/share/$1
/usr/lib/python3.9/site-packages/$1-$3.dist-info
SPEC
    rpmbuild --quiet --define "_topdir $work/build" -bb "$work/$1.spec" >/dev/null 2>&1
}

spec openssl-libs openssl 1.0.2k 26.el7_9 1 CentOS OpenSSL
spec bash bash 4.2.46 35.el7_9 "" CentOS GPLv3+
spec python-six python-six 1.9.0 2.el7 "" CentOS MIT
spec htop htop 2.2.0 3.el7 "" "Fedora Project" GPLv2

root="$work/root"
mkdir -p "$root/var/lib/rpm"
rpm --root "$root" --dbpath /var/lib/rpm --define '_db_backend sqlite' --initdb
rpm --root "$root" --dbpath /var/lib/rpm --define '_db_backend sqlite' -i --justdb --nodeps --noscripts \
    --ignorearch --ignoreos "$work"/build/RPMS/noarch/*.rpm
# Fold the write-ahead log into the database file.
python3 - "$root/var/lib/rpm/rpmdb.sqlite" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1]); c.execute("PRAGMA wal_checkpoint(TRUNCATE)"); c.execute("PRAGMA journal_mode=DELETE"); c.close()
PY
mkdir -p "$here/rootfs/rocky9/var/lib/rpm" "$here/rootfs/centos7/var/lib/rpm"
cp "$root/var/lib/rpm/rpmdb.sqlite" "$here/rootfs/rocky9/var/lib/rpm/rpmdb.sqlite"

# BerkeleyDB: db_load's printable format (-T): key line, value line, bytes as \xx escapes.
python3 - "$root/var/lib/rpm/rpmdb.sqlite" >"$work/packages.txt" <<'PY'
import sqlite3, struct, sys
def esc(b):
    return "".join(chr(c) if 32 < c < 127 and c != 0x5c else "\\%02x" % c for c in b)
for hnum, blob in sqlite3.connect(sys.argv[1]).execute("SELECT hnum, blob FROM Packages ORDER BY hnum"):
    print(esc(struct.pack("<I", hnum)))
    print(esc(blob))
PY
rm -f "$here/rootfs/centos7/var/lib/rpm/Packages"
db5.3_load -T -t hash -c db_pagesize=4096 -f "$work/packages.txt" "$here/rootfs/centos7/var/lib/rpm/Packages"

# rpm itself must read both back.
check="$work/check"
mkdir -p "$check"
cp "$here/rootfs/centos7/var/lib/rpm/Packages" "$check/"
got="$(rpm --dbpath "$check" --define '_db_backend bdb_ro' -qa --qf '%{NAME}\n' 2>/dev/null | sort | tr '\n' ' ')"
[[ "$got" == "bash htop openssl-libs python-six " ]] || { echo "rpm reads back: $got" >&2; exit 1; }
echo "gen_rpmdb.sh: wrote rocky9/var/lib/rpm/rpmdb.sqlite and centos7/var/lib/rpm/Packages (rpm reads both)" >&2
