#!/bin/sh
# mkdeb.sh PACKAGE ARCH OUTDIR: build PACKAGE (vigil-agent or vigil) for the
# Debian architecture ARCH into OUTDIR/PACKAGE_VERSION_ARCH.deb from a staged
# tree, with dpkg-deb alone: no debian/ source tree, no root (files are owned
# by root through --root-owner-group). Prints the path of the .deb.
#
# Besides the binary, every package carries a manual page made from the
# program's own help text and a copyright file (DEP-5) that lists, with
# their licences, the Go modules the binary links, from its build
# information and the module cache it was built from (pkgfiles man and
# pkgfiles copyright).
#
# Environment (the Makefile's dist targets set them):
#   BIN             the binary to install as /usr/bin/PACKAGE
#   PKGFILES        the pkgfiles tool (installer/cmd/pkgfiles), built for this machine
#   DEB_VERSION     the package version, e.g. 0.1.0 or 0.1.0+3.gabcdef0
#   DEB_MAINTAINER  the Maintainer field
#   GO              the go command BIN was built with, default go (for GOROOT
#                   and GOMODCACHE)
#   ICON            (vigil) the source icon, default assets/icon.png
#
# Run from the repository root.
set -eu

usage() {
	echo "usage: BIN=... PKGFILES=... DEB_VERSION=... DEB_MAINTAINER=... $0 vigil-agent|vigil ARCH OUTDIR" >&2
	exit 2
}
[ $# -eq 3 ] || usage
pkg=$1 arch=$2 out=$3
: "${BIN:?}" "${PKGFILES:?}" "${DEB_VERSION:?}" "${DEB_MAINTAINER:?}"
here=installer/deb

stage=$(mktemp -d)
shlibs= help=
trap 'rm -rf "$stage" ${shlibs:+"$shlibs"} ${help:+"$help"}' EXIT
umask 022
chmod 0755 "$stage"

doc=$stage/usr/share/doc/$pkg
man=$stage/usr/share/man/man1
install -d -m 0755 "$stage/DEBIAN" "$stage/usr/bin" "$doc" "$man"
install -m 0755 "$BIN" "$stage/usr/bin/$pkg"
# Vigil's paragraph, then Go's and one for each module the binary links,
# with its licence. A module whose licence cannot be found or is not one
# pkgfiles knows fails the build, naming it.
"$PKGFILES" copyright -bin "$BIN" -head "$here/copyright" \
	-goroot "$("${GO:-go}" env GOROOT)" -modcache "$("${GO:-go}" env GOMODCACHE)" >"$doc/copyright"
chmod 0644 "$doc/copyright"

# A native package (no Debian revision) carries changelog.gz. gzip -n keeps
# the name and time of the input out, so the same input gives the same bytes.
date=$(date -R ${SOURCE_DATE_EPOCH:+-d "@$SOURCE_DATE_EPOCH"})
printf '%s (%s) stable; urgency=medium\n\n  * Vigil %s.\n\n -- %s  %s\n' \
	"$pkg" "$DEB_VERSION" "$DEB_VERSION" "$DEB_MAINTAINER" "$date" | gzip -9n >"$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"

case $pkg in
vigil-agent)
	install -d -m 0755 "$stage/etc/vigil-agent" "$stage/lib/systemd/system"
	"$PKGFILES" config -os linux >"$stage/etc/vigil-agent/agent.yaml"
	"$PKGFILES" unit >"$stage/lib/systemd/system/vigil-agent.service"
	chmod 0644 "$stage/etc/vigil-agent/agent.yaml" "$stage/lib/systemd/system/vigil-agent.service"
	install -m 0644 "$here/vigil-agent/README.Debian" "$doc/README.Debian"
	install -d -m 0755 "$stage/usr/share/lintian/overrides"
	install -m 0644 "$here/vigil-agent/lintian-overrides" "$stage/usr/share/lintian/overrides/vigil-agent"
	# From the help text of the agent package pkgfiles links, as the arm64
	# binary cannot run here; the version from the binary's build info.
	"$PKGFILES" man -name vigil-agent -bin "$BIN" >"$man/vigil-agent.1"
	for script in postinst prerm postrm; do
		install -m 0755 "$here/vigil-agent/$script" "$stage/DEBIAN/$script"
	done
	echo /etc/vigil-agent/agent.yaml >"$stage/DEBIAN/conffiles"
	depends='adduser'
	extra='Suggests: polkitd
Section: admin'
	description='Vigil host agent for redundant server systems
 The agent runs on each server a Vigil console watches. It reports the
 server'"'"'s role and health, streams changes to paired consoles over HTTPS
 with mutual TLS, announces itself by mDNS, and carries out only the actions
 its configuration allows: start or stop a service, edit a settings file,
 drop a task file, run a declared command.
 .
 Installing the package does not start the agent: configure it first, as
 /usr/share/doc/vigil-agent/README.Debian describes.'
	;;
vigil)
	install -d -m 0755 "$stage/usr/share/applications" "$stage/usr/share/icons/hicolor"
	install -m 0644 installer/linux/io.vigilops.vigil.desktop "$stage/usr/share/applications/"
	# The C compiler's version notes, which dh_strip would remove too.
	objcopy --remove-section=.comment "$stage/usr/bin/vigil"
	# pkgfiles cannot link the console (Fyne, cgo): the page is made from
	# what the binary, built for this machine, prints.
	help=$(mktemp)
	"$BIN" help >"$help"
	"$PKGFILES" man -name vigil -bin "$BIN" <"$help" >"$man/vigil.1"
	"$PKGFILES" icons -src "${ICON:-assets/icon.png}" -out "$stage/usr/share/icons/hicolor"
	# The libraries the binary links (libc, GL, X11) and the packages
	# holding them, as dpkg-shlibdeps finds them on this machine.
	shlibs=$(mktemp -d)
	mkdir "$shlibs/debian"
	printf 'Source: vigil\n\nPackage: vigil\nArchitecture: any\n' >"$shlibs/debian/control"
	depends=$(cd "$shlibs" && dpkg-shlibdeps -O -e"$stage/usr/bin/vigil" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
	[ -n "$depends" ] || { echo "mkdeb: dpkg-shlibdeps found no dependencies for $BIN" >&2; exit 1; }
	# GLFW opens its X11 and Wayland libraries at run time with dlopen,
	# which dpkg-shlibdeps cannot see.
	depends="$depends, libx11-6, libx11-xcb1, libxcursor1, libxext6, libxi6, libxinerama1, libxrandr2, libxrender1, libxkbcommon0, libwayland-cursor0, libwayland-egl1, libegl1"
	extra='Section: admin'
	description='operator console for redundant server systems
 Vigil finds the servers of redundant systems (primary/backup pairs,
 master/slave servers with mirrored storage, disaster-recovery sites, N+1
 standby servers) on the LAN, shows each one'"'"'s live role and health, alerts
 by email and on the desktop when a server fails or a failover happens, and
 guides the operator through the vendor'"'"'s failover procedures. It talks to
 the vigil-agent on each server.'
	;;
*)
	usage
	;;
esac

# Manual pages compressed as Debian's are: the most, with no name or time
# of the input, so that the same page gives the same bytes.
gzip -9n "$man"/*.1

# Everything but the conffiles, which dpkg checks by itself.
(cd "$stage" && find usr lib -type f 2>/dev/null | LC_ALL=C sort | xargs md5sum) >"$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/md5sums" "$stage/DEBIAN/conffiles" 2>/dev/null || true

size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<EOF
Package: $pkg
Version: $DEB_VERSION
Architecture: $arch
Maintainer: $DEB_MAINTAINER
Installed-Size: $size
Depends: $depends
$extra
Priority: optional
Homepage: https://github.com/vigilops/vigil
Description: $description
EOF

mkdir -p "$out"
deb=$out/${pkg}_${DEB_VERSION}_$arch.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
