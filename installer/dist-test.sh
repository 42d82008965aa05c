#!/bin/sh
# dist-test.sh DIR: check the packages in DIR (`make dist-test` builds them).
#
# Everywhere: the contents, modes and metadata of the .debs, the unit, the
# desktop entry and the icons; the binaries' linking (the console a PIE with
# full RELRO and BIND_NOW, the agent static); the manual pages (groff's
# warnings, whatis); the copyright files (a paragraph for Go and for every
# module `go version -m` lists); lintian, which must be installed (make
# dist-deps installs it) and report no error or warning, its output in the
# log; the MSIs' tables (msiinfo) and files (msiextract) when they are in DIR.
#
# As root on a dpkg system, it also installs the packages on this machine:
# the agent .deb with dpkg -i, its files, modes, owners, user and unit
# (systemd-analyze verify), `vigil-agent version`, `man vigil-agent` and a
# run as its user from /usr/bin; a reinstall and an upgrade that keep an edited config and the
# keys; remove, then purge, after which nothing of it is left. The console
# .deb: install, `vigil version`, desktop-file-validate, remove. It refuses to
# touch a vigil-agent or vigil already installed here, and removes what it
# installed even when a check fails. DIST_TEST_INSTALL=no skips this part.
#
# Environment: VERSION (what `version` must print), DEB_VERSION;
# CONSOLE_EXE_STANDIN=yes when the console MSI holds a stand-in for vigil.exe
# and vigil.com; GO, the go command (default go).
set -eu

[ $# -eq 1 ] || { echo "usage: VERSION=... DEB_VERSION=... $0 DIR" >&2; exit 2; }
dir=$1
: "${VERSION:?}" "${DEB_VERSION:?}"

agent_deb=$dir/vigil-agent_${DEB_VERSION}_amd64.deb
console_deb=$dir/vigil_${DEB_VERSION}_amd64.deb
agent_msi=$dir/vigil-agent-$VERSION-x64.msi
console_msi=$dir/vigil-$VERSION-x64.msi

work=$(mktemp -d)
installed=      # packages this script installed, purged on exit
agent_pid=      # the agent it started as the vigil-agent user
cleanup() {
	status=$?
	set +e
	if [ -n "$agent_pid" ]; then
		kill "$agent_pid" 2>/dev/null
		wait "$agent_pid" 2>/dev/null
	fi
	if [ -n "$installed" ]; then
		echo "cleanup: dpkg --purge$installed"
		# shellcheck disable=SC2086
		dpkg --purge $installed >/dev/null
	fi
	rm -rf "$work"
	exit $status
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

fail() {
	echo "FAIL: $*" >&2
	exit 1
}
ok() { echo "ok   $*"; }
section() { echo "--- $*"; }

# stat_is PATH MODE OWNER GROUP
stat_is() {
	got=$(stat -c '%a %U %G' "$1" 2>/dev/null) || fail "$1 is missing"
	[ "$got" = "$2 $3 $4" ] || fail "$1 is $got; want $2 $3 $4"
	ok "$1 $got"
}
absent() {
	for p in "$@"; do
		if [ -e "$p" ] || [ -L "$p" ]; then fail "$p is still there"; fi
	done
}
grep_q() { # grep_q PATTERN FILE WHAT
	grep -q -- "$1" "$2" || fail "$3: no line matching '$1' in $2"
}

# deb_field DEB FIELD
deb_field() { dpkg-deb -f "$1" "$2"; }

section "agent .deb: $agent_deb"
[ -f "$agent_deb" ] || fail "$agent_deb was not built"
[ "$(deb_field "$agent_deb" Package)" = vigil-agent ] || fail "Package is not vigil-agent"
[ "$(deb_field "$agent_deb" Version)" = "$DEB_VERSION" ] || fail "Version is not $DEB_VERSION"
dpkg-deb -c "$agent_deb" | awk '{ print $1, $2, $6 }' >"$work/agent.contents"
for want in \
	'-rwxr-xr-x root/root ./usr/bin/vigil-agent' \
	'-rw-r--r-- root/root ./lib/systemd/system/vigil-agent.service' \
	'-rw-r--r-- root/root ./etc/vigil-agent/agent.yaml' \
	'-rw-r--r-- root/root ./usr/share/doc/vigil-agent/copyright' \
	'-rw-r--r-- root/root ./usr/share/doc/vigil-agent/changelog.gz' \
	'-rw-r--r-- root/root ./usr/share/man/man1/vigil-agent.1.gz' \
	'-rw-r--r-- root/root ./usr/share/lintian/overrides/vigil-agent' \
	'drwxr-xr-x root/root ./'; do
	grep -qxF -- "$want" "$work/agent.contents" || fail "agent .deb: no '$want' in its contents"
done
ok "agent .deb contents and modes"
dpkg-deb --ctrl-tarfile "$agent_deb" | tar -xO ./conffiles | grep -qx /etc/vigil-agent/agent.yaml ||
	fail "agent.yaml is not a conffile"
ok "agent.yaml is a conffile"
dpkg-deb -x "$agent_deb" "$work/agent"
unit=$work/agent/lib/systemd/system/vigil-agent.service
for line in User=vigil-agent Group=vigil-agent NoNewPrivileges=yes ProtectSystem=strict \
	'ReadWritePaths=/var/lib/vigil-agent$' ProtectHome=yes PrivateTmp=yes 'CapabilityBoundingSet=$' \
	'ExecStart=/usr/bin/vigil-agent run --config /etc/vigil-agent/agent.yaml$'; do
	grep_q "^$line" "$unit" "packaged unit"
done
ok "packaged unit is hardened (own user, NoNewPrivileges, ProtectSystem=strict, one write path)"

# The agent is pure Go (CGO_ENABLED=0): statically linked, no interpreter,
# which its lintian override says and this checks.
agent_bin=$work/agent/usr/bin/vigil-agent
readelf -l "$agent_bin" >"$work/agent.phdrs"
! grep -q INTERP "$work/agent.phdrs" || fail "vigil-agent asks for a dynamic loader; it must be statically linked (CGO_ENABLED=0)"
readelf -d "$agent_bin" | grep -q 'There is no dynamic section' || fail "vigil-agent has a dynamic section; it must be statically linked"
ok "vigil-agent is statically linked (no INTERP, no dynamic section)"

# check_man PAGE NAME: PAGE (gzipped) formats with no warning from groff,
# as lintian runs it, and has the whatis entry NAME - ...
check_man() {
	(cd "$(dirname "$(dirname "$1")")" && LC_ALL=C.UTF-8 MANWIDTH=80 MANROFFSEQ='' \
		man --warnings -E UTF-8 -l -Tutf8 -Z "$1" 2>"$work/man.err" >/dev/null) || fail "man $1 failed: $(cat "$work/man.err")"
	[ ! -s "$work/man.err" ] || fail "groff warns about $1: $(cat "$work/man.err")"
	lexgrog "$1" | grep -q ": \"$2 - " || fail "$1 has no whatis entry for $2: $(lexgrog "$1")"
	gzip -l "$1" >/dev/null || fail "$1 is not gzipped"
}
check_man "$work/agent/usr/share/man/man1/vigil-agent.1.gz" vigil-agent
zcat "$work/agent/usr/share/man/man1/vigil-agent.1.gz" >"$work/agent.1"
# Made from the agent's help text: every command it lists is an item.
for cmd in run init 'pair\\-code' install uninstall version; do
	grep -q "^\\\\fB$cmd\\\\fR" "$work/agent.1" || fail "vigil-agent(1) has no item for the command $cmd"
done
ok "vigil-agent(1): no groff warnings, whatis entry, every command of vigil-agent help"

# check_copyright FILE BINARY: a DEP-5 file with Vigil's copyright notice and
# a paragraph for Go and for each module the binary says it links.
check_copyright() {
	head -n 1 "$1" | grep -qx 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/' || fail "$1 is not DEP-5"
	grep -q '^Copyright: [0-9-]* The Vigil authors$' "$1" || fail "$1 has no copyright notice for Vigil"
	grep -qx 'Files: GOROOT/src/\*' "$1" || fail "$1 has no paragraph for Go's standard library"
	"${GO:-go}" version -m "$2" | awk '$1 == "dep" { print $2 }' >"$work/deps"
	[ -s "$work/deps" ] || fail "go version -m $2 lists no modules"
	while read -r mod; do
		grep -qxF "Files: vendor/$mod/*" "$1" || fail "$1 has no paragraph for $mod, which $2 links"
	done <"$work/deps"
	ok "${1#"$work"/*/}: DEP-5, Vigil's notice, Go and the $(wc -l <"$work/deps") modules go version -m lists"
}
check_copyright "$work/agent/usr/share/doc/vigil-agent/copyright" "$agent_bin"

section "console .deb: $console_deb"
[ -f "$console_deb" ] || fail "$console_deb was not built"
[ "$(deb_field "$console_deb" Package)" = vigil ] || fail "Package is not vigil"
deb_field "$console_deb" Depends | grep -q "libc6.*libx11-6" || fail "console Depends lacks libc6 (dpkg-shlibdeps) or the X11 libraries GLFW loads"
dpkg-deb -x "$console_deb" "$work/console"
stat_is "$work/console/usr/bin/vigil" 755 "$(id -un)" "$(id -gn)"
# Hardened as Debian builds C programs: a position-independent executable
# (loaded at a random address), full RELRO and immediate binding.
console_bin=$work/console/usr/bin/vigil
readelf -h "$console_bin" | grep -q 'Type: *DYN' || fail "vigil is not a PIE: $(readelf -h "$console_bin" | grep Type)"
readelf -d "$console_bin" | grep -q '(FLAGS) *BIND_NOW' || fail "vigil is not linked with -z now (no BIND_NOW)"
readelf -l "$console_bin" | grep -q GNU_RELRO || fail "vigil is not linked with -z relro (no GNU_RELRO)"
ok "vigil is a PIE (Type DYN) with GNU_RELRO and BIND_NOW"
check_man "$work/console/usr/share/man/man1/vigil.1.gz" vigil
zcat "$work/console/usr/share/man/man1/vigil.1.gz" | grep -q '^\\fBvigil status\\fR' || fail "vigil(1) has no item for vigil status"
ok "vigil(1): no groff warnings, whatis entry, the commands of vigil help"
check_copyright "$work/console/usr/share/doc/vigil/copyright" "$console_bin"
desktop=$work/console/usr/share/applications/io.vigilops.vigil.desktop
desktop-file-validate "$desktop" || fail "desktop-file-validate $desktop"
grep_q '^Exec=vigil$' "$desktop" "desktop entry"
grep_q '^Icon=io.vigilops.vigil$' "$desktop" "desktop entry"
ok "desktop entry passes desktop-file-validate"
for n in 16 22 24 32 48 64 128 256 512; do
	icon=$work/console/usr/share/icons/hicolor/${n}x$n/apps/io.vigilops.vigil.png
	file "$icon" | grep -q "PNG image data, $n x $n," || fail "$icon is not a $n x $n PNG"
done
ok "icons 16..512 in hicolor"

# What a Debian packager runs. Errors and warnings fail; info tags are shown
# too. The one override (installer/deb/vigil-agent/lintian-overrides) is for
# what lintian itself exempts Go programs from; one it no longer needs fails.
section lintian
command -v lintian >/dev/null 2>&1 || fail "lintian is not installed; make dist-deps installs it (it is in DIST_PKGS)"
status=0
lintian --display-info --fail-on error,warning "$agent_deb" "$console_deb" >"$work/lintian" 2>&1 || status=$?
grep -v '^running with root privileges is not recommended!$' "$work/lintian" | sed 's/^/    /'
[ "$status" -eq 0 ] || fail "lintian reports errors or warnings (exit status $status)"
! grep -q 'unused-override\|mismatched-override' "$work/lintian" || fail "a lintian override is no longer needed or does not match"
ok "lintian $(lintian --version | sed 's/^Lintian v//'): no errors, no warnings"

# msi_table MSI TABLE: the table's rows, tab-separated, after msiinfo's
# three header lines (column names, types, table name).
msi_table() { msiinfo export "$1" "$2" | tr -d '\r' | tail -n +4; }

if [ -f "$agent_msi" ]; then
	section "agent MSI: $agent_msi"
	msi_table "$agent_msi" ServiceInstall >"$work/svc"
	awk -F'\t' '$2 == "VigilAgent" && $3 == "Vigil Agent" && $9 == "NT AUTHORITY\\LocalService"' "$work/svc" | grep -q . ||
		fail "no ServiceInstall row for VigilAgent as LocalService: $(cat "$work/svc")"
	grep -qF 'run --config "[CommonAppDataFolder]Vigil Agent\agent.yaml"' "$work/svc" ||
		fail "the service is not started with run --config ...\\agent.yaml: $(cat "$work/svc")"
	# Start type 3 is "demand": installed, not started until configured.
	awk -F'\t' '$2 == "VigilAgent" && $5 == 3' "$work/svc" | grep -q . || fail "the service's start type is not demand (3)"
	ok "ServiceInstall: VigilAgent, LocalService, demand start, run --config"
	msi_table "$agent_msi" ServiceControl >"$work/ctl"
	# Events: stop on install and uninstall (2|32), delete on uninstall (128);
	# never started by the installer.
	awk -F'\t' '$2 == "VigilAgent" && $3 == 162' "$work/ctl" | grep -q . ||
		fail "ServiceControl for VigilAgent is not stop+remove (162): $(cat "$work/ctl")"
	ok "ServiceControl: stop on install and uninstall, remove on uninstall, no start"
	msi_table "$agent_msi" File | cut -f3 >"$work/files"
	for f in vigil-agent.exe agent.yaml; do
		grep -q "$f" "$work/files" || fail "agent MSI has no file $f"
	done
	msi_table "$agent_msi" Directory | grep -q 'Vigil Agent' || fail "agent MSI has no Vigil Agent directory"
	msi_table "$agent_msi" CustomAction | grep -q 'sidtype VigilAgent unrestricted' ||
		fail "agent MSI does not give the service its SID"
	mkdir "$work/agentmsi"
	(cd "$work/agentmsi" && msiextract "$agent_msi" >/dev/null)
	exe=$(find "$work/agentmsi" -name vigil-agent.exe)
	file "$exe" | grep -q 'PE32+ executable (console) x86-64' || fail "vigil-agent.exe is not a 64-bit console PE: $(file "$exe")"
	cfg=$(find "$work/agentmsi" -name agent.yaml)
	grep -q "^state_dir: 'C:\\\\ProgramData\\\\Vigil Agent\\\\state'" "$cfg" || fail "the MSI's agent.yaml keeps its state elsewhere"
	ok "agent MSI files: vigil-agent.exe (PE32+), agent.yaml with state in C:\\ProgramData\\Vigil Agent\\state"
else
	echo "skip agent MSI: $agent_msi not built"
fi

if [ -f "$console_msi" ]; then
	section "console MSI: $console_msi"
	msi_table "$console_msi" Shortcut >"$work/lnk"
	awk -F'\t' '$1 == "VigilMenu" && $2 == "ProgramMenuFolder" && $3 ~ /Vigil$/ && $5 == "[#vigil.exe]"' "$work/lnk" | grep -q . ||
		fail "no Start menu shortcut to vigil.exe: $(cat "$work/lnk")"
	grep -q 'msiexec.exe' "$work/lnk" || fail "no uninstall shortcut: $(cat "$work/lnk")"
	ok "Shortcut: Vigil and Uninstall Vigil in the Start menu"
	# vigil.exe (the GUI) and vigil.com (the command line), side by side.
	msi_table "$console_msi" File >"$work/cfiles"
	for f in vigil.exe vigil.com; do
		awk -F'\t' -v f="$f" '$1 == f && $3 == f' "$work/cfiles" | grep -q . || fail "console MSI has no file $f: $(cat "$work/cfiles")"
		comp=$(awk -F'\t' -v f="$f" '$1 == f { print $2 }' "$work/cfiles")
		msi_table "$console_msi" Component | awk -F'\t' -v c="$comp" -v f="$f" '$1 == c && $3 == "INSTALLDIR" && $6 == f' | grep -q . ||
			fail "$f is not the key path of a component in INSTALLDIR"
	done
	ok "File: vigil.exe and vigil.com in the install directory"
	msi_table "$console_msi" Property | grep -q '^ARPPRODUCTICON' || fail "no ARPPRODUCTICON (icon in Apps & features)"
	msi_table "$console_msi" Icon | grep -q '^vigil.ico' || fail "no icon in the console MSI"
	ok "the console MSI's icon is in Apps & features"
fi
if [ -f "$console_msi" ] && [ "${CONSOLE_EXE_STANDIN:-no}" = yes ]; then
	echo "skip vigil.exe and vigil.com checks: the console MSI was built around a stand-in (make dist-test DIST_TEST_WINDOWS_CONSOLE=yes builds the real ones)"
elif [ -f "$console_msi" ]; then
	mkdir "$work/consolemsi"
	(cd "$work/consolemsi" && msiextract "$console_msi" >/dev/null)
	# The same program twice: vigil.exe linked as a GUI program (no console
	# window from the Start menu), vigil.com as a console one (commands).
	for f in vigil.exe:GUI vigil.com:console; do
		name=${f%%:*} subsystem=${f#*:}
		exe=$(find "$work/consolemsi" -name "$name")
		[ -n "$exe" ] || fail "msiextract gave no $name"
		file "$exe" | grep -q "PE32+ executable ($subsystem) x86-64" || fail "$name is not a 64-bit $subsystem PE: $(file "$exe")"
		x86_64-w64-mingw32-objdump -p "$exe" >"$work/pe"
		grep -q 'Resource Directory' "$work/pe" || fail "$name has no resources (icon, manifest)"
		grep -q 'requestedExecutionLevel level="asInvoker"' "$exe" || fail "$name has no manifest"
		# The version resource is UTF-16: its name, with every other byte NUL.
		LC_ALL=C tr -d '\000' <"$exe" | grep -q "OriginalFilename$name" || fail "$name's version resource does not name it"
		dlls=$(awk '/DLL Name:/ { print tolower($3) }' "$work/pe" | grep -v -x -e kernel32.dll -e user32.dll -e gdi32.dll \
			-e opengl32.dll -e shell32.dll -e ole32.dll -e winmm.dll -e ws2_32.dll -e advapi32.dll -e msvcrt.dll \
			-e dwmapi.dll -e imm32.dll -e ntdll.dll -e crypt32.dll -e bcrypt.dll -e secur32.dll -e iphlpapi.dll \
			-e userenv.dll -e netapi32.dll -e winhttp.dll -e shlwapi.dll -e api-ms-win-core-synch-l1-2-0.dll \
			-e powrprof.dll -e comdlg32.dll -e uxtheme.dll -e oleaut32.dll -e version.dll -e dbghelp.dll || true)
		[ -z "$dlls" ] || fail "$name needs DLLs Windows does not have: $dlls"
		ok "console MSI: $name (PE32+ $subsystem) with icon, manifest and version, system DLLs only"
	done
else
	echo "skip console MSI: $console_msi not built"
fi

# ---- installing on this machine ----

if [ "${DIST_TEST_INSTALL:-yes}" = no ]; then
	echo "skip install tests: DIST_TEST_INSTALL=no"
	exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v dpkg >/dev/null 2>&1; then
	echo "skip install tests: they need root and dpkg (run make test as root, or make dist-test with sudo)"
	exit 0
fi

# One installing run at a time on this machine.
exec 9>/run/lock/vigil-dist-test.lock
flock -w 600 9 || fail "another dist-test held /run/lock/vigil-dist-test.lock for 10 minutes"

for pkg in vigil-agent vigil; do
	if dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null | grep -qv '^not-installed$'; then
		fail "$pkg is installed on this machine; this test installs and purges it, so it leaves it alone. Run dpkg --purge $pkg, or DIST_TEST_INSTALL=no"
	fi
done
if getent passwd vigil-agent >/dev/null || getent group vigil-agent >/dev/null; then
	fail "a user or group vigil-agent exists; this test would remove it. Remove it (deluser --system vigil-agent), or DIST_TEST_INSTALL=no"
fi

conf=/etc/vigil-agent/agent.yaml
state=/var/lib/vigil-agent
sys_unit=/lib/systemd/system/vigil-agent.service
etc_unit=/etc/systemd/system/vigil-agent.service
wants=/etc/systemd/system/multi-user.target.wants/vigil-agent.service

section "install the agent: dpkg -i"
installed=" vigil-agent"
dpkg -i "$agent_deb" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -i $agent_deb"; }
stat_is /usr/bin/vigil-agent 755 root root
stat_is $sys_unit 644 root root
stat_is /etc/vigil-agent 755 root root
stat_is $conf 644 root root
stat_is $state 700 vigil-agent vigil-agent
entry=$(getent passwd vigil-agent) || fail "no user vigil-agent"
uid=$(echo "$entry" | cut -d: -f3)
[ "$uid" -lt 1000 ] || fail "vigil-agent is not a system user (uid $uid)"
[ "$(echo "$entry" | cut -d: -f7)" = /usr/sbin/nologin ] || fail "vigil-agent can log in: $entry"
[ "$(id -gn vigil-agent)" = vigil-agent ] || fail "vigil-agent's group is $(id -gn vigil-agent)"
ok "system user vigil-agent (uid $uid, nologin, own group)"
[ "$(/usr/bin/vigil-agent version)" = "vigil-agent $VERSION" ] ||
	fail "/usr/bin/vigil-agent version printed '$(/usr/bin/vigil-agent version)'; want 'vigil-agent $VERSION'"
ok "/usr/bin/vigil-agent version: vigil-agent $VERSION"
[ "$(man -w vigil-agent)" = /usr/share/man/man1/vigil-agent.1.gz ] || fail "man -w vigil-agent: '$(man -w vigil-agent 2>&1)'"
ok "man vigil-agent finds vigil-agent(1)"
if command -v systemd-analyze >/dev/null 2>&1; then
	systemd-analyze verify $sys_unit >"$work/verify" 2>&1 || { cat "$work/verify" >&2; fail "systemd-analyze verify $sys_unit"; }
	[ ! -s "$work/verify" ] || { cat "$work/verify" >&2; fail "systemd-analyze verify complains about $sys_unit"; }
	ok "systemd-analyze verify: no complaints"
else
	echo "skip systemd-analyze verify: not installed"
fi
absent $wants
if [ -d /run/systemd/system ]; then
	systemctl is-active --quiet vigil-agent && fail "the agent was started before it was configured"
fi
ok "not enabled, not started"

section "configure and run it as vigil-agent"
sed -i -e 's/^name: .*/name: dist-test/' -e 's/^listen: .*/listen: 127.0.0.1:0/' -e 's/^advertise: .*/advertise: false/' $conf
grep_q '^name: dist-test$' $conf "edited config"
cp $conf "$work/conf.edited"
setpriv --reuid vigil-agent --regid vigil-agent --init-groups /usr/bin/vigil-agent run --config $conf >"$work/agent.log" 2>&1 &
agent_pid=$!
n=0
until [ -s $state/agent.addr ]; do
	kill -0 "$agent_pid" 2>/dev/null || { cat "$work/agent.log" >&2; fail "the agent exited"; }
	[ $n -lt 300 ] || { cat "$work/agent.log" >&2; fail "the agent wrote no $state/agent.addr in 60 s"; }
	sleep 0.2
	n=$((n + 1))
done
kill "$agent_pid"
wait "$agent_pid" || true
agent_pid=
stat_is $state/agent.key 600 vigil-agent vigil-agent
(cd $state && sha256sum agent.key agent.crt agent.id) >"$work/keys"
ok "ran as vigil-agent from /usr/bin; it made its key pair and id in $state"
/usr/bin/vigil-agent install --config $conf >"$work/install.log" 2>&1 || { cat "$work/install.log" >&2; fail "vigil-agent install"; }
grep_q '^# Written by `vigil-agent install`' $etc_unit "vigil-agent install"
[ -L $wants ] || fail "vigil-agent install did not enable the unit ($wants)"
ok "vigil-agent install wrote $etc_unit and enabled it"

# keeps NAME: the edited config, the keys and the enabling survived NAME.
keeps() {
	cmp -s $conf "$work/conf.edited" || fail "$1 changed the edited config"
	(cd $state && sha256sum -c --quiet "$work/keys") || fail "$1 changed the keys"
	stat_is $state 700 vigil-agent vigil-agent
	[ -L $wants ] || fail "$1 disabled the agent"
	[ -f $etc_unit ] || fail "$1 removed the unit vigil-agent install wrote"
	ok "$1 kept the edited config, the keys, the unit and its enabling"
}

section "reinstall over itself"
dpkg -i "$agent_deb" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -i (reinstall)"; }
keeps "reinstalling"

section "upgrade"
# The same package with a higher version, as the next release would be.
dpkg-deb -R "$agent_deb" "$work/next"
next_version=$DEB_VERSION+dist.test
sed -i "s/^Version: .*/Version: $next_version/" "$work/next/DEBIAN/control"
dpkg-deb --root-owner-group -Zxz -b "$work/next" "$work/next.deb" >/dev/null
dpkg -i "$work/next.deb" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -i (upgrade)"; }
[ "$(dpkg-query -W -f='${Version}' vigil-agent)" = "$next_version" ] || fail "the upgrade did not install $next_version"
keeps "upgrading to $next_version"

section "remove"
dpkg -r vigil-agent >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -r"; }
absent /usr/bin/vigil-agent $sys_unit
cmp -s $conf "$work/conf.edited" || fail "remove did not keep the config"
(cd $state && sha256sum -c --quiet "$work/keys") || fail "remove did not keep the keys"
getent passwd vigil-agent >/dev/null || fail "remove removed the user"
ok "remove took the binary and unit, kept config, keys and user"

section "purge"
dpkg --purge vigil-agent >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg --purge"; }
installed=
absent /etc/vigil-agent $state $etc_unit $wants /etc/polkit-1/rules.d/50-vigil-agent.rules
left=$(find /etc /lib/systemd /usr/lib/systemd /usr/bin /usr/share/doc /usr/share/man /usr/share/lintian /var/lib/systemd /var/lib/dpkg/info \
	-name '*vigil-agent*' 2>/dev/null || true)
[ -z "$left" ] || fail "purge left: $left"
getent passwd vigil-agent >/dev/null && fail "purge left the user vigil-agent"
getent group vigil-agent >/dev/null && fail "purge left the group vigil-agent"
dpkg-query -W -f='${db:Status-Status}' vigil-agent 2>/dev/null | grep -qv '^not-installed$' &&
	fail "dpkg still knows vigil-agent: $(dpkg-query -W -f='${db:Status-Status}' vigil-agent)"
ok "purge left nothing: no files, unit, enabling, user or group"

section "install the console: dpkg -i"
installed=" vigil"
dpkg -i "$console_deb" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -i $console_deb (are its Depends installed?)"; }
stat_is /usr/bin/vigil 755 root root
[ "$(/usr/bin/vigil version)" = "vigil $VERSION" ] ||
	fail "/usr/bin/vigil version printed '$(/usr/bin/vigil version)'; want 'vigil $VERSION'"
ok "/usr/bin/vigil version: vigil $VERSION"
desktop-file-validate /usr/share/applications/io.vigilops.vigil.desktop || fail "desktop-file-validate (installed)"
ok "installed desktop entry passes desktop-file-validate"
dpkg-query -L vigil >"$work/console.files"
for n in 16 32 48 256 512; do
	grep -qx "/usr/share/icons/hicolor/${n}x$n/apps/io.vigilops.vigil.png" "$work/console.files" || fail "no ${n}x$n icon installed"
done
dpkg -r vigil >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -r vigil"; }
dpkg --purge vigil >/dev/null 2>&1 || true
installed=
while read -r f; do
	[ -d "$f" ] || absent "$f"
done <"$work/console.files"
ok "removing the console took every file it installed"

echo "dist-test: all checks passed"
