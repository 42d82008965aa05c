# Vigil: build, test and demo targets.
#
# GNU make; every recipe is POSIX sh. Targets:
#
#   make deps        install what is missing to build the GUI and take screenshots
#   make build       bin/vigil (console, cgo + Fyne) and bin/vigil-agent (pure Go)
#   make test        gofmt, vet, agent cross-builds, then the test suite (what CI runs)
#   make demo        build, then run the console with a simulated fleet
#   make screenshot  run the demo under Xvfb and capture docs/screenshot.png
#   make bench       benchmarks only (not part of `make test`)
#   make dist        every package into dist/, with dist/SHA256SUMS
#   make dist-test   build the packages and check them; as root, install them
#                    here, upgrade and purge them (part of `make test`)
#   make clean       remove build output and Fyne's failed golden images
#
# The Makefile targets Linux (Debian-based for `deps`). Variables marked ?= can
# be overridden on the command line, e.g. `make screenshot SCREENSHOT=/tmp/s.png`.

SHELL := /bin/sh
.DEFAULT_GOAL := build

# `deps` may run apt-get while `build` compiles; keep targets in order even under
# `make -j`. The go tool parallelises the real work itself.
.NOTPARALLEL:

# Find Go on PATH, falling back to the default tarball location so that a fresh
# shell on a machine with /usr/local/go works without editing PATH.
export PATH := $(PATH):/usr/local/go/bin

# The console's C parts (Fyne's GLFW and GL bindings) are compiled as
# Debian compiles C programs, with _FORTIFY_SOURCE and the stack protector
# (lintian checks the packaged binary for them). Every build, vet and test
# here uses the same flags, so that the C is compiled once and cached: a
# build with other flags compiles it all again, minutes on two cores. The
# Windows console (mingw-w64) sets its own.
export CGO_CPPFLAGS ?= -D_FORTIFY_SOURCE=2
export CGO_CFLAGS ?= -g -O2 -fstack-protector-strong
# The console is a position-independent executable (the Debian package is
# hardened so). Go compiles every package a PIE links anew, in that mode,
# so every build of the console, `go vet` and the tests that link Fyne use
# it too, and the packages are compiled once, not twice. The agent is not:
# it is statically linked, and the race-detector tests compile apart anyway.
PIE = -buildmode=pie
GO ?= go
# The Go version go.mod asks for, used in the error message when Go is missing.
GO_REQUIRED := $(shell sed -n 's/^go \([0-9][0-9.]*\).*/\1/p' go.mod 2>/dev/null)

# Debian packages: a C compiler and the X11/Wayland/GL headers that Fyne's GLFW
# driver links against; Xvfb, xauth (for xvfb-run), x11-utils (xwininfo) and
# ImageMagick (import) for headless screenshots; iproute2 (ip netns) and
# iptables (a lossy link's random drops) for tests that build network
# namespaces.
DEPS_PKGS := gcc pkg-config libgl1-mesa-dev xorg-dev libwayland-dev \
	libxkbcommon-dev xvfb xauth x11-utils imagemagick iproute2 iptables

# What make bench needs besides: python3-zeroconf, the independent mDNS
# browser the discovery benchmark times beside the console's.
BENCH_PKGS := python3-zeroconf

# The agent must stay pure Go: these builds run with CGO_ENABLED=0.
AGENT_PKG := ./cmd/vigil-agent
AGENT_PLATFORMS := linux/amd64 linux/arm64 windows/amd64
# The platforms `make test` builds the agent for: those its own packages
# cover (dist-test builds the amd64 .deb and the Windows MSI from the same
# compiled packages). Another architecture is a full compile of the agent's
# dependencies, SQLite among them, for little: `make dist` builds arm64.
AGENT_TEST_PLATFORMS := linux/amd64 windows/amd64
# Packages the agent is built from, vetted with GOOS=windows. Patterns that
# match nothing yet are skipped, so this list can name packages before they exist.
AGENT_SIDE := ./cmd/vigil-agent/ ./agent/... ./sim/... ./actions/... ./discovery/... ./model/...

# Per test binary; keeps `make test` inside CI's 15 minutes.
TEST_TIMEOUT ?= 14m
# Parallel tests per package. Most of them wait on simulated servers rather
# than compute, so more than the two cores' default shortens the run. The
# packages that link Fyne (app's end-to-end tests above all) wait longest
# and run eight at a time: 110 s instead of 150 s for app, and it passes so
# with both cores kept busy by other work.
TEST_PARALLEL ?= 4
FYNE_TEST_PARALLEL ?= 8

# XVFB_RUN runs a command under a private X server on a free display number
# (`xvfb-run -a`, from the xvfb package), with DISPLAY and XAUTHORITY set for it:
#
#     $(XVFB_RUN) ./bin/vigil demo
#     $(XVFB_RUN) $(GO) test ./some/package/that/needs/a/window
#
# Unit and UI tests do not need it: they use Fyne's headless test driver
# (fyne.io/fyne/v2/test). Only wrap a test in it if it must open a real window.
XVFB_SCREEN ?= 1280x800x24
XVFB_RUN = xvfb-run -a -s '-screen 0 $(XVFB_SCREEN)'

# Screenshot settings. /usr/local/bin/convert may be a stand-in for ImageMagick
# on some machines, so name ImageMagick's import by its full path when present.
SCREENSHOT ?= docs/screenshot.png
# VIGIL_SCREENSHOT_VIEW (from the command line or the environment, which
# make passes on to the demo) picks what the demo shows: a tab (events,
# procedures, alerts), "wizard", the procedure wizard taken to its first
# approval, or "incident", the K2 SAN failed over and the Infocast pair
# degraded (the demo kills two agents once all is healthy; the window's
# title names them once the K2 backup has taken over). SCREENSHOT_WINDOW
# is an awk pattern for the name of the window to wait for: the wizard's
# names its state, so the picture is taken once it waits for the operator.
SCREENSHOT_WINDOW ?= $(if $(filter wizard,$(VIGIL_SCREENSHOT_VIEW)),Vigil procedure.*your turn,$(if $(filter incident,$(VIGIL_SCREENSHOT_VIEW)),Vigil.*FAILED OVER,Vigil))
SCREENSHOT_WAIT ?= $(if $(filter wizard incident,$(VIGIL_SCREENSHOT_VIEW)),150,60)
SCREENSHOT_SETTLE ?= 5
IMPORT ?= $(firstword $(wildcard /usr/bin/import) import)

# The version comes from one place: the newest tag vX.Y.Z as `git describe
# --tags` gives it (X.Y.Z on the tag, X.Y.Z-N-gHASH N commits later), or the
# VERSION file where there is no tag. `make dist VERSION=1.2.3` overrides both.
# Worked out once, on first use, so targets that do not need it run no git.
VERSION = $(eval VERSION := $(shell (git describe --tags --match 'v[0-9]*' 2>/dev/null || echo "v$$(cat VERSION)") | sed 's/^v//'))$(VERSION)
# What `vigil version` and `vigil-agent version` print.
GO_LDFLAGS = -X github.com/vigilops/vigil/actions.Version=$(VERSION)

.PHONY: deps bench-deps check-go build test demo screenshot bench clean

## check-go: fail early, with a clear message, when Go is not installed.
check-go:
	@command -v $(GO) >/dev/null 2>&1 || { \
	  echo "error: Go not found on PATH or in /usr/local/go/bin." >&2; \
	  echo "Install Go $(GO_REQUIRED) or newer (go.mod asks for it): https://go.dev/dl/" >&2; \
	  exit 1; }

## deps: install only the missing Debian packages (no stamp file; checking is fast).
## dist-deps does the same for what packaging needs, bench-deps for make bench.
deps: PKGS = $(DEPS_PKGS)
dist-deps: PKGS = $(DIST_PKGS)
bench-deps: PKGS = $(BENCH_PKGS)
deps dist-deps bench-deps: check-go
	@set -eu; \
	if ! command -v dpkg-query >/dev/null 2>&1; then \
	  echo "$@: dpkg-query not found (not Debian-based?); nothing checked or installed." >&2; \
	  echo "$@: install the equivalents of: $(PKGS)" >&2; \
	  exit 0; \
	fi; \
	missing=; \
	for pkg in $(PKGS); do \
	  dpkg-query -W -f='$${Status}' "$$pkg" 2>/dev/null | grep -q 'install ok installed' \
	    || missing="$$missing $$pkg"; \
	done; \
	if [ -z "$$missing" ]; then echo "$@: all system packages installed"; exit 0; fi; \
	echo "$@: installing:$$missing"; \
	sudo=; \
	if [ "$$(id -u)" -ne 0 ]; then \
	  command -v sudo >/dev/null 2>&1 || { echo "$@: not root and no sudo; install:$$missing" >&2; exit 1; }; \
	  sudo=sudo; \
	fi; \
	$$sudo apt-get update; \
	$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing

## build: the console needs cgo (Fyne/GLFW); the agent must build without it.
## Run `make deps` first on a new machine.
build: check-go
	@mkdir -p bin
	CGO_ENABLED=1 $(GO) build $(PIE) -ldflags '$(GO_LDFLAGS)' -o bin/vigil .
	CGO_ENABLED=0 $(GO) build -ldflags '$(GO_LDFLAGS)' -o bin/vigil-agent $(AGENT_PKG)
	CGO_ENABLED=0 $(GO) build -o bin/vigil-sim ./sim/simbin

## test: everything CI checks, in order, failing on the first broken step
## except the two test runs and the packaging test, which all run so one
## report shows all failures.
test: deps dist-deps
	@printf '==> %s %s\n' "$$(date +%T)" 'gofmt -l'
	@set -eu; \
	gofmt="$$($(GO) env GOROOT)/bin/gofmt"; \
	files=$$(find . -path ./.git -prune -o -name testdata -prune -o -type f -name '*.go' -exec "$$gofmt" -l {} +); \
	if [ -n "$$files" ]; then \
	  echo "gofmt: these files are not formatted (run gofmt -w on them):" >&2; \
	  echo "$$files" >&2; \
	  exit 1; \
	fi
	@printf '==> %s %s\n' "$$(date +%T)" 'go vet ./...'
	@$(GO) vet $(PIE) ./...
	@printf '==> %s %s\n' "$$(date +%T)" 'agent cross-builds with CGO_ENABLED=0: $(AGENT_TEST_PLATFORMS)'
	@set -eu; \
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	for platform in $(AGENT_TEST_PLATFORMS); do \
	  os=$${platform%/*}; arch=$${platform#*/}; \
	  case $$os in windows) exe=.exe ;; *) exe= ;; esac; \
	  echo "    $$os/$$arch"; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -o "$$tmp/vigil-agent-$$os-$$arch$$exe" $(AGENT_PKG); \
	done
	@printf '==> %s %s\n' "$$(date +%T)" 'GOOS=windows go vet (agent-side packages that exist)'
	@set -eu; \
	pkgs=$$(GOOS=windows $(GO) list -e -f '{{if or .GoFiles .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' $(AGENT_SIDE)); \
	if [ -z "$$pkgs" ]; then echo "    none yet"; else GOOS=windows $(GO) vet $$pkgs; fi
	@# Split the packages that have tests by whether their test binary links
	@# Fyne: the race detector is cheap for the rest but slows Fyne's rendering
	@# tests badly on two cores, so those run without it.
	@set -eu; \
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(GO) list -test -f '{{.ImportPath}} {{join .Deps " "}}' ./... >"$$tmp/list"; \
	awk '$$1 ~ /\.test$$/ { \
	    fyne = 0; \
	    for (i = 2; i <= NF; i++) if (index($$i, "fyne.io/fyne/v2") == 1) fyne = 1; \
	    print substr($$1, 1, length($$1) - 5) > (fyne ? FILENAME ".fyne" : FILENAME ".race"); \
	  }' "$$tmp/list"; \
	race=$$(cat "$$tmp/list.race" 2>/dev/null || true); \
	fyne=$$(cat "$$tmp/list.fyne" 2>/dev/null || true); \
	status=0; \
	if [ -n "$$race" ]; then \
	  printf '==> %s %s\n' "$$(date +%T)" 'go test -race (packages without Fyne)'; \
	  CGO_ENABLED=1 $(GO) test -race -count=1 -parallel $(TEST_PARALLEL) -timeout $(TEST_TIMEOUT) $$race || status=1; \
	fi; \
	if [ -n "$$fyne" ]; then \
	  printf '==> %s %s\n' "$$(date +%T)" 'go test (Fyne packages, headless test driver)'; \
	  CGO_ENABLED=1 GOFLAGS='$(PIE)' $(GO) test -count=1 -parallel $(FYNE_TEST_PARALLEL) -timeout $(TEST_TIMEOUT) $$fyne || status=1; \
	fi; \
	if [ -z "$$race$$fyne" ]; then echo '    no packages have tests yet'; fi; \
	printf '==> %s %s\n' "$$(date +%T)" 'make dist-test (packages: build, check, install, upgrade, purge)'; \
	$(MAKE) --no-print-directory dist-test VERSION='$(VERSION)' DIST_TEST_WINDOWS_CONSOLE=no || status=1; \
	printf '==> %s %s\n' "$$(date +%T)" "make test ends (status $$status)"; \
	exit $$status

## demo: the GUI with a simulated fleet; extra flags via DEMO_ARGS.
demo: deps build
	./bin/vigil demo $(DEMO_ARGS)

# The script `screenshot` runs inside xvfb-run (which sets DISPLAY). It starts
# the demo with a throwaway data directory, waits for a viewable window whose
# name matches SCREENSHOT_WINDOW, lets the fleet appear, captures the whole screen,
# then stops the demo (SIGTERM, SIGKILL after 10 s) and waits for it.
define SCREENSHOT_SCRIPT
set -eu
data=$$(mktemp -d)
log=$$(mktemp)
./bin/vigil demo --data "$$data" >"$$log" 2>&1 &
pid=$$!
stop() {
	kill "$$pid" 2>/dev/null || true
	n=0
	while kill -0 "$$pid" 2>/dev/null && [ "$$n" -lt 10 ]; do sleep 1; n=$$((n + 1)); done
	kill -KILL "$$pid" 2>/dev/null || true
	wait "$$pid" 2>/dev/null || true
	rm -rf "$$data" "$$log"
}
fail() {
	echo "screenshot: $$1; output of vigil demo:" >&2
	cat "$$log" >&2
	exit 1
}
trap stop EXIT
trap 'exit 1' INT TERM
waited=0
while :; do
	found=
	for win in $$(xwininfo -root -tree | awk '/"$(SCREENSHOT_WINDOW)/ { print $$1 }'); do
		xwininfo -id "$$win" | grep -q 'Map State: IsViewable' && found=$$win
	done
	[ -n "$$found" ] && break
	kill -0 "$$pid" 2>/dev/null || fail "the demo exited before showing a window"
	[ "$$waited" -lt $(SCREENSHOT_WAIT) ] || fail "no window named $(SCREENSHOT_WINDOW) after $(SCREENSHOT_WAIT) s"
	sleep 1
	waited=$$((waited + 1))
done
sleep $(SCREENSHOT_SETTLE)
mkdir -p "$$(dirname '$(SCREENSHOT)')"
'$(IMPORT)' -window root '$(SCREENSHOT)'
stop
trap - EXIT
endef
export SCREENSHOT_SCRIPT

## screenshot: docs/screenshot.png of the demo, on a private Xvfb display the
## size of the window, so the picture is the window and nothing else.
screenshot: XVFB_SCREEN = 1280x800x24
screenshot: deps build
	$(XVFB_RUN) sh -c "$$SCREENSHOT_SCRIPT"
	@echo "screenshot: $(SCREENSHOT)"

## bench: benchmarks only; -run '^$' matches no test, so no unit tests run.
# One apt-get at a time, even under -j.
bench-deps: deps
bench: deps bench-deps
	$(GO) test -run '^$$' -bench . -benchmem -timeout 60m ./...

# ---- Packages ----
#
# installer/ holds what the packages are made of; these targets build them.
# Everything is built on this Linux machine: the .debs with dpkg-deb from a
# staged tree (installer/deb/mkdeb.sh), the Windows executables with Go (the
# console's cgo through mingw-w64) and the MSIs with wixl.
#
#   dist/vigil-agent_DEBVER_amd64.deb, _arm64.deb   agent: binary, hardened unit, example config
#   dist/vigil_DEBVER_amd64.deb                     console: binary (PIE), desktop entry, icons
#   dist/vigil-agent-VERSION-windows-amd64.exe      agent for Windows (pure Go)
#   dist/vigil-agent-VERSION-x64.msi                it, as the service VigilAgent
#   dist/vigil-VERSION-windows-amd64.exe            console for Windows (icon, manifest): the GUI
#   dist/vigil-VERSION-windows-amd64.com            the same, linked for the command line (vigil.com)
#   dist/vigil-VERSION-x64.msi                      both, with Start menu entries
#   dist/SHA256SUMS
#
# Each .deb also carries a manual page made from the program's help text and
# a DEP-5 copyright file with the licence of every Go module the binary links
# (installer/cmd/pkgfiles), and passes lintian with no error or warning
# (dist-test checks).

# Debian: packaging tools (dpkg-dev, with binutils' readelf and objcopy),
# desktop-file-validate and `file` (for the tests), lintian (dist-test fails
# without it); msitools (msiinfo, msiextract) and wixl for the MSIs;
# mingw-w64 to link the console for Windows (gcc, and windres for its icon
# and manifest).
DIST_PKGS := dpkg-dev desktop-file-utils file lintian msitools wixl gcc-mingw-w64-x86-64 binutils-mingw-w64-x86-64

DIST ?= dist
# Intermediate files; dist-test points it at a temporary directory. (Set
# with =, not ?=, so that an OUT in the environment cannot redirect them.)
DIST_BUILD = $(DIST)/.build
# Where the pkg-* targets put packages.
OUT = $(DIST)
# Debian architectures of the agent's .deb (each in AGENT_PLATFORMS).
DEB_ARCHES ?= amd64 arm64
DEB_MAINTAINER ?= Vigil maintainers <packaging@vigilops.io>
MINGW_CC ?= x86_64-w64-mingw32-gcc
WINDRES ?= x86_64-w64-mingw32-windres
# Whether dist-test builds the console for Windows. It is cgo through
# mingw-w64: 9 minutes of CPU on a cold build cache (Fyne's GLFW and GL
# bindings), and a cold `make test` already takes about 15 minutes on two
# cores, so `make test` sets it to no: the console MSI is then built around a
# stand-in vigil.exe (the agent's), which checks the MSI's tables but not the
# executable. `make dist` always builds the real one.
DIST_TEST_WINDOWS_CONSOLE ?= yes
# A prebuilt executable for pkg-console-msi to pack as both vigil.exe and
# vigil.com, instead of building them.
WINDOWS_CONSOLE_EXE ?=

# Versions as each format wants them. Debian: X.Y.Z-N-gHASH becomes
# X.Y.Z+N.gHASH, which sorts after X.Y.Z, and a pre-release X.Y.Z-rc1
# becomes X.Y.Z~rc1, which sorts before it. MSI: X.Y.Z, numbers only.
# Windows file version: X.Y.Z.N.
DEB_VERSION = $(shell echo '$(VERSION)' | sed -E 's/-([0-9]+)-g([0-9a-f]+)$$/+\1.g\2/; s/-/~/g')
MSI_VERSION = $(shell echo '$(VERSION)' | sed -E 's/^([0-9]+\.[0-9]+\.[0-9]+).*/\1/')
WIN_FILEVERSION = $(shell echo '$(VERSION)' | sed -E 's/^([0-9]+\.[0-9]+\.[0-9]+)(-([0-9]+)-g[0-9a-f]+)?.*/\1.\3/; s/\.$$/.0/')

# Release builds: stripped, no VCS stamp (so go build runs no git).
DIST_GOFLAGS = -buildvcs=false -ldflags '-s -w $(GO_LDFLAGS)'
# The console for Debian, hardened as Debian builds C programs (what
# dpkg-buildflags gives them and lintian checks): a position-independent
# executable, so that it loads at a random address; full RELRO and
# immediate binding (-z relro -z now), so that its GOT is read-only once it
# has started; its C parts (GLFW, the GL bindings) compiled with
# _FORTIFY_SOURCE and the stack protector (CGO_CPPFLAGS and CGO_CFLAGS,
# set for every build at the top). With cgo, -buildmode=pie links through
# gcc, which -extldflags reaches. The Windows targets and the agent (pure
# Go, statically linked: see installer/deb/vigil-agent/lintian-overrides)
# keep DIST_GOFLAGS.
CONSOLE_DEB_GOFLAGS = -buildvcs=false -buildmode=pie -ldflags '-s -w $(GO_LDFLAGS) -extldflags=-Wl,-z,relro,-z,now'
PKGFILES = $(DIST_BUILD)/pkgfiles
DEB_ENV = PKGFILES='$(PKGFILES)' DEB_VERSION='$(DEB_VERSION)' DEB_MAINTAINER='$(DEB_MAINTAINER)' GO='$(GO)'

.PHONY: dist dist-deps dist-test dist-check-version pkg-tools pkg-agent-debs pkg-console-deb pkg-agent-msi pkg-console-msi

## dist: every package into dist/, with SHA-256 checksums. Packages of other
## versions already there are removed first, so SHA256SUMS lists one release.
dist: dist-deps dist-check-version
	@rm -f $(DIST)/*.deb $(DIST)/*.msi $(DIST)/*.exe $(DIST)/*.com $(DIST)/SHA256SUMS
	@$(MAKE) --no-print-directory VERSION='$(VERSION)' OUT='$(DIST)' \
	  pkg-agent-debs pkg-console-deb pkg-agent-msi pkg-console-msi
	@cd $(DIST) && sha256sum -- *.deb *.msi *.exe *.com >SHA256SUMS
	@printf '==> %s %s\n' "$$(date +%T)" '$(DIST)/ (version $(VERSION)):'
	@cd $(DIST) && ls -l -- *.deb *.msi *.exe *.com SHA256SUMS

## dist-test: build the packages into a temporary directory and check them
## with installer/dist-test.sh (lintian among the checks: it must report no
## error or warning); as root it installs, upgrades and purges them on this
## machine (DIST_TEST_INSTALL=no skips that part).
dist-test: dist-deps dist-check-version
	@set -eu; \
	start=$$(date +%s); \
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"; echo "dist-test: $$(( $$(date +%s) - start )) s"' EXIT; \
	$(MAKE) --no-print-directory VERSION='$(VERSION)' OUT="$$tmp/out" DIST_BUILD="$$tmp/build" DEB_ARCHES=amd64 \
	  pkg-agent-debs pkg-console-deb pkg-agent-msi \
	  $(if $(filter yes,$(DIST_TEST_WINDOWS_CONSOLE)),,WINDOWS_CONSOLE_EXE="$$tmp/build/windows-agent/vigil-agent.exe") pkg-console-msi; \
	VERSION='$(VERSION)' DEB_VERSION='$(DEB_VERSION)' GO='$(GO)' CONSOLE_EXE_STANDIN=$(if $(filter yes,$(DIST_TEST_WINDOWS_CONSOLE)),no,yes) \
	  sh installer/dist-test.sh "$$tmp/out"

# The version must be X.Y.Z[-suffix], and FyneApp.toml (read by `fyne
# package`) must agree with the VERSION file.
dist-check-version:
	@echo '$(VERSION)' | grep -Eq '^[0-9]+\.[0-9]+\.[0-9]+([-+~][0-9A-Za-z.+~-]*)?$$' || { \
	  echo "version '$(VERSION)' (from git describe or VERSION) is not X.Y.Z[-suffix]" >&2; exit 1; }
	@file=$$(cat VERSION); fyne=$$(sed -n 's/^ *Version *= *"\(.*\)"/\1/p' FyneApp.toml); \
	[ "$$file" = "$$fyne" ] || { \
	  echo "VERSION says $$file but FyneApp.toml says Version = \"$$fyne\"; make them agree" >&2; exit 1; }

# The generator of the files packages carry that come from code (the agent's
# unit and example configs, icons), built for this machine.
pkg-tools:
	@mkdir -p $(DIST_BUILD)
	@$(GO) build -buildvcs=false -o $(PKGFILES) ./installer/cmd/pkgfiles

pkg-agent-debs: pkg-tools
	@set -eu; for arch in $(DEB_ARCHES); do \
	  echo "==> vigil-agent .deb ($$arch, $(DEB_VERSION))"; \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build $(DIST_GOFLAGS) -o $(DIST_BUILD)/linux-$$arch/vigil-agent $(AGENT_PKG); \
	  BIN=$(DIST_BUILD)/linux-$$arch/vigil-agent $(DEB_ENV) sh installer/deb/mkdeb.sh vigil-agent $$arch '$(OUT)'; \
	done

pkg-console-deb: pkg-tools
	@printf '==> %s %s\n' "$$(date +%T)" 'vigil .deb (amd64, $(DEB_VERSION))'
	@CGO_ENABLED=1 $(GO) build $(CONSOLE_DEB_GOFLAGS) -o $(DIST_BUILD)/linux-amd64/vigil .
	@BIN=$(DIST_BUILD)/linux-amd64/vigil $(DEB_ENV) sh installer/deb/mkdeb.sh vigil amd64 '$(OUT)'

pkg-agent-msi: pkg-tools
	@printf '==> %s %s\n' "$$(date +%T)" 'vigil-agent for Windows and its MSI ($(MSI_VERSION))'
	@set -eu; d=$(DIST_BUILD)/windows-agent; mkdir -p "$$d" '$(OUT)'; \
	CGO_ENABLED=0 GOOS=windows GOARCH=amd64 $(GO) build $(DIST_GOFLAGS) -o "$$d/vigil-agent.exe" $(AGENT_PKG); \
	$(PKGFILES) config -os windows >"$$d/agent.yaml"; \
	cp "$$d/vigil-agent.exe" '$(OUT)/vigil-agent-$(VERSION)-windows-amd64.exe'; \
	out=$$(cd '$(OUT)' && pwd); \
	cd "$$d" && wixl -a x64 -D Version=$(MSI_VERSION) -o "$$out/vigil-agent-$(VERSION)-x64.msi" '$(CURDIR)/installer/windows/agent.wxs'; \
	echo "$$out/vigil-agent-$(VERSION)-x64.msi"

# The console for Windows, as two programs linked from the same package, the
# way Visual Studio ships devenv.exe and devenv.com. A program is either a
# GUI or a console one (the PE subsystem, fixed at link time): vigil.exe is
# linked with -H windowsgui, so that the Start menu opens no console window
# with it, but cmd.exe then neither waits for it nor gives it the console.
# vigil.com is the same program linked as a console one, for the commands:
# cmd.exe and PowerShell wait for it, it prints and it reads the operator's
# answers. Windows runs a PE file whatever its extension, and PATHEXT lists
# .COM before .EXE by default, so `vigil version` (by full path, from the
# install directory or with it on PATH) runs vigil.com and `vigil.exe` the
# GUI. A second program rather than a launcher that relays a console to
# vigil.exe (devenv.com's way): only a second link of the packages the first
# compiled, and nothing between the operator and the command. (vigil.exe still
# prints a command's output to the console it was started from: see
# app/console_windows.go.) The Start menu shortcut points at vigil.exe.
#
# windres compiles the icon, the manifest and the version of each into a
# COFF object, which the external linker (mingw-w64 gcc, as cgo needs) links
# in.
pkg-console-msi: pkg-tools
	@printf '==> %s %s\n' "$$(date +%T)" 'vigil for Windows and its MSI ($(MSI_VERSION))'
	@set -eu; d=$$(mkdir -p $(DIST_BUILD)/windows-console && cd $(DIST_BUILD)/windows-console && pwd); mkdir -p '$(OUT)'; \
	$(PKGFILES) ico -src assets/icon.png -out "$$d/vigil.ico"; \
	fv='$(WIN_FILEVERSION)'; \
	subst() { sed -e "s/@VERSION@/$(VERSION)/g" -e "s/@FILEVERSION_DOTS@/$$fv/g" -e "s/@FILEVERSION_COMMAS@/$$(echo $$fv | tr . ,)/g" "$$@"; }; \
	subst installer/windows/vigil.exe.manifest >"$$d/vigil.exe.manifest"; \
	subst -e 's/@FILENAME@/vigil.exe/g' -e 's/@DESCRIPTION@/Vigil operator console/g' installer/windows/vigil.rc >"$$d/vigil.rc"; \
	subst -e 's/@FILENAME@/vigil.com/g' -e 's/@DESCRIPTION@/Vigil operator console, command line/g' installer/windows/vigil.rc >"$$d/vigil-com.rc"; \
	(cd "$$d" && $(WINDRES) -O coff -i vigil.rc -o vigil-res.o && $(WINDRES) -O coff -i vigil-com.rc -o vigil-com-res.o); \
	if [ -n '$(WINDOWS_CONSOLE_EXE)' ]; then \
	  echo "    with $(WINDOWS_CONSOLE_EXE) standing in for vigil.exe and vigil.com"; \
	  cp '$(WINDOWS_CONSOLE_EXE)' "$$d/vigil.exe"; \
	  cp '$(WINDOWS_CONSOLE_EXE)' "$$d/vigil.com"; \
	else \
	  CGO_ENABLED=1 GOOS=windows GOARCH=amd64 CC=$(MINGW_CC) CGO_CPPFLAGS= CGO_CFLAGS="-g -O2" $(GO) build -buildvcs=false \
	    -ldflags "-s -w -H windowsgui $(GO_LDFLAGS) '-extldflags=-static $$d/vigil-res.o'" -o "$$d/vigil.exe" .; \
	  CGO_ENABLED=1 GOOS=windows GOARCH=amd64 CC=$(MINGW_CC) CGO_CPPFLAGS= CGO_CFLAGS="-g -O2" $(GO) build -buildvcs=false \
	    -ldflags "-s -w $(GO_LDFLAGS) '-extldflags=-static $$d/vigil-com-res.o'" -o "$$d/vigil.com" .; \
	  cp "$$d/vigil.exe" '$(OUT)/vigil-$(VERSION)-windows-amd64.exe'; \
	  cp "$$d/vigil.com" '$(OUT)/vigil-$(VERSION)-windows-amd64.com'; \
	fi; \
	out=$$(cd '$(OUT)' && pwd); \
	cd "$$d" && wixl -a x64 -D Version=$(MSI_VERSION) -o "$$out/vigil-$(VERSION)-x64.msi" '$(CURDIR)/installer/windows/console.wxs'; \
	echo "$$out/vigil-$(VERSION)-x64.msi"

## clean: build output, packaging output and Fyne's failed golden images.
clean:
	rm -rf bin dist
	find . -path ./.git -prune -o -type d -path '*/testdata/failed' -prune -exec rm -rf {} +
