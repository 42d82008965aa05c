// Package installer owns packaging for the console and the agent: what the
// packages hold and the scripts that make and check them. The Makefile's
// dist, dist-test and pkg-* targets drive it; nothing imports it.
//
//   - deb/mkdeb.sh stages a tree and builds a .deb with dpkg-deb alone (no
//     debian/ source tree, no new Go module, no root). deb/vigil-agent holds
//     the agent's maintainer scripts, README.Debian and lintian override;
//     deb/copyright is the head of both packages' copyright files.
//   - linux/ holds the console's desktop entry.
//   - windows/ holds the WiX sources of the two MSIs (built with Debian's
//     wixl) and the console's manifest and resource script (compiled with
//     mingw-w64's windres and linked into vigil.exe and vigil.com).
//   - cmd/pkgfiles makes the files that come from code: the agent's packaged
//     systemd unit and example configs, through the agent's own generator and
//     parser so that the unit's hardening has one source; the manual pages
//     vigil(1) and vigil-agent(1), from the programs' own help text; the
//     copyright files, from the binaries' build information and the licence
//     files of the modules they link; and the icons (hicolor PNGs, a Windows
//     .ico) from assets/icon.png.
//   - dist-test.sh checks the packages (lintian among the checks, which must
//     report no error or warning) and, as root, installs, upgrades and purges
//     them on the machine it runs on.
//
// Decisions:
//
//   - The agent's .deb neither enables nor starts the agent: with the example
//     config it would announce itself as "server1". The administrator edits
//     /etc/vigil-agent/agent.yaml, then runs `vigil-agent install`, which
//     writes a unit for that config to /etc/systemd/system (taking precedence
//     over the packaged one in /lib/systemd/system) and enables it. Upgrades
//     keep the enabling and restart a running agent (try-restart); prerm stops
//     it on removal; purge removes the config, the state, the user, and the
//     unit and polkit rule `vigil-agent install` wrote (recognised by the
//     mark it puts on their first line).
//   - The Windows MSI registers the service with ServiceInstall (LocalService,
//     manual start, not started) and does with sc.exe and icacls.exe what
//     wixl has no tables for: the service SID, restart on failure, and a state
//     directory readable only by the service, SYSTEM and administrators. The
//     config is an unmanaged component (no component GUID), so neither an
//     upgrade nor an uninstall removes it.
//   - The .debs pass lintian as a Debian packager runs it. The console is
//     built as Debian builds C programs: a PIE with full RELRO and BIND_NOW,
//     its C parts with _FORTIFY_SOURCE. The agent stays statically linked
//     (CGO_ENABLED=0, to run on any Linux host), and its one lintian
//     override, statically-linked-binary, is for what lintian itself exempts
//     Go programs from when it sees a source package that build-depends on
//     golang-go or golang-any, which a .deb made by dpkg-deb has not.
//   - Both manual pages are in section 1: the programs are in /usr/bin, and
//     Debian's own Go daemons there (prometheus-node-exporter) have theirs
//     in section 1; section 8 goes with /usr/sbin.
//   - The copyright files list what the binaries hold: Vigil, the Go runtime
//     and standard library, and each module in the binary's build
//     information with the texts of its licence files (those in
//     /usr/share/common-licenses pointed at there), since the MIT and BSD
//     licences ask for their notices to go with binary copies.
//   - The console MSI installs the console twice, linked from the same
//     package: vigil.exe as a GUI program, for the Start menu, and vigil.com
//     as a console program, for the commands (cmd.exe and PowerShell run
//     vigil.com for `vigil`, as PATHEXT lists .COM before .EXE), the way
//     Visual Studio ships devenv.exe and devenv.com. It does not add its
//     directory to PATH: wixl 0.101 has no Environment element, and a
//     RegistryValue would replace PATH rather than append to it.
package installer
