// Package installer owns packaging for the console and the agent: what the
// packages hold and the scripts that make and check them. The Makefile's
// dist, dist-test and pkg-* targets drive it; nothing imports it.
//
//   - deb/mkdeb.sh stages a tree and builds a .deb with dpkg-deb alone (no
//     debian/ source tree, no new Go module, no root). deb/vigil-agent holds
//     the agent's maintainer scripts and README.Debian; deb/copyright is
//     shared by both packages.
//   - linux/ holds the console's desktop entry.
//   - windows/ holds the WiX sources of the two MSIs (built with Debian's
//     wixl) and the console's manifest and resource script (compiled with
//     mingw-w64's windres and linked into vigil.exe and vigil.com).
//   - cmd/pkgfiles makes the files that come from code: the agent's packaged
//     systemd unit and example configs, through the agent's own generator and
//     parser so that the unit's hardening has one source, and the icons
//     (hicolor PNGs, a Windows .ico) from assets/icon.png.
//   - dist-test.sh checks the packages and, as root, installs, upgrades and
//     purges them on the machine it runs on.
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
//   - The console MSI installs the console twice, linked from the same
//     package: vigil.exe as a GUI program, for the Start menu, and vigil.com
//     as a console program, for the commands (cmd.exe and PowerShell run
//     vigil.com for `vigil`, as PATHEXT lists .COM before .EXE), the way
//     Visual Studio ships devenv.exe and devenv.com. It does not add its
//     directory to PATH: wixl 0.101 has no Environment element, and a
//     RegistryValue would replace PATH rather than append to it.
package installer
