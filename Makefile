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
GO ?= go
# The Go version go.mod asks for, used in the error message when Go is missing.
GO_REQUIRED := $(shell sed -n 's/^go \([0-9][0-9.]*\).*/\1/p' go.mod 2>/dev/null)

# Debian packages: a C compiler and the X11/Wayland/GL headers that Fyne's GLFW
# driver links against; Xvfb, xauth (for xvfb-run), x11-utils (xwininfo) and
# ImageMagick (import) for headless screenshots; iproute2 (ip netns) for tests
# that build network namespaces.
DEPS_PKGS := gcc pkg-config libgl1-mesa-dev xorg-dev libwayland-dev \
	libxkbcommon-dev xvfb xauth x11-utils imagemagick iproute2

# The agent must stay pure Go: these builds run with CGO_ENABLED=0.
AGENT_PKG := ./cmd/vigil-agent
AGENT_PLATFORMS := linux/amd64 linux/arm64 windows/amd64
# Packages the agent is built from, vetted with GOOS=windows. Patterns that
# match nothing yet are skipped, so this list can name packages before they exist.
AGENT_SIDE := ./cmd/vigil-agent/ ./agent/... ./actions/... ./discovery/... ./model/...

# Per test binary; keeps `make test` inside CI's 15 minutes.
TEST_TIMEOUT ?= 14m

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
SCREENSHOT_WAIT ?= 60
SCREENSHOT_SETTLE ?= 5
IMPORT ?= $(firstword $(wildcard /usr/bin/import) import)

.PHONY: deps check-go build test demo screenshot bench clean

## check-go: fail early, with a clear message, when Go is not installed.
check-go:
	@command -v $(GO) >/dev/null 2>&1 || { \
	  echo "error: Go not found on PATH or in /usr/local/go/bin." >&2; \
	  echo "Install Go $(GO_REQUIRED) or newer (go.mod asks for it): https://go.dev/dl/" >&2; \
	  exit 1; }

## deps: install only the missing Debian packages (no stamp file; checking is fast).
deps: check-go
	@set -eu; \
	if ! command -v dpkg-query >/dev/null 2>&1; then \
	  echo "deps: dpkg-query not found (not Debian-based?); nothing checked or installed." >&2; \
	  echo "deps: install the equivalents of: $(DEPS_PKGS)" >&2; \
	  exit 0; \
	fi; \
	missing=; \
	for pkg in $(DEPS_PKGS); do \
	  dpkg-query -W -f='$${Status}' "$$pkg" 2>/dev/null | grep -q 'install ok installed' \
	    || missing="$$missing $$pkg"; \
	done; \
	if [ -z "$$missing" ]; then echo "deps: all system packages installed"; exit 0; fi; \
	echo "deps: installing:$$missing"; \
	sudo=; \
	if [ "$$(id -u)" -ne 0 ]; then \
	  command -v sudo >/dev/null 2>&1 || { echo "deps: not root and no sudo; install:$$missing" >&2; exit 1; }; \
	  sudo=sudo; \
	fi; \
	$$sudo apt-get update; \
	$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing

## build: the console needs cgo (Fyne/GLFW); the agent must build without it.
## Run `make deps` first on a new machine.
build: check-go
	@mkdir -p bin
	CGO_ENABLED=1 $(GO) build -o bin/vigil .
	CGO_ENABLED=0 $(GO) build -o bin/vigil-agent $(AGENT_PKG)
	CGO_ENABLED=0 $(GO) build -o bin/vigil-sim ./agent/sim/simbin

## test: everything CI checks, in order, failing on the first broken step
## except the two test runs, which both run so one report shows all failures.
test: deps
	@echo '==> gofmt -l'
	@set -eu; \
	gofmt="$$($(GO) env GOROOT)/bin/gofmt"; \
	files=$$(find . -path ./.git -prune -o -name testdata -prune -o -type f -name '*.go' -exec "$$gofmt" -l {} +); \
	if [ -n "$$files" ]; then \
	  echo "gofmt: these files are not formatted (run gofmt -w on them):" >&2; \
	  echo "$$files" >&2; \
	  exit 1; \
	fi
	@echo '==> go vet ./...'
	@$(GO) vet ./...
	@echo '==> agent cross-builds with CGO_ENABLED=0: $(AGENT_PLATFORMS)'
	@set -eu; \
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	for platform in $(AGENT_PLATFORMS); do \
	  os=$${platform%/*}; arch=$${platform#*/}; \
	  case $$os in windows) exe=.exe ;; *) exe= ;; esac; \
	  echo "    $$os/$$arch"; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -o "$$tmp/vigil-agent-$$os-$$arch$$exe" $(AGENT_PKG); \
	done
	@echo '==> GOOS=windows go vet (agent-side packages that exist)'
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
	  echo '==> go test -race (packages without Fyne)'; \
	  CGO_ENABLED=1 $(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $$race || status=1; \
	fi; \
	if [ -n "$$fyne" ]; then \
	  echo '==> go test (Fyne packages, headless test driver)'; \
	  CGO_ENABLED=1 $(GO) test -count=1 -timeout $(TEST_TIMEOUT) $$fyne || status=1; \
	fi; \
	if [ -z "$$race$$fyne" ]; then echo '    no packages have tests yet'; fi; \
	exit $$status

## demo: the GUI with a simulated fleet; extra flags via DEMO_ARGS.
demo: deps build
	./bin/vigil demo $(DEMO_ARGS)

# The script `screenshot` runs inside xvfb-run (which sets DISPLAY). It starts
# the demo with a throwaway data directory, waits for a viewable window whose
# name starts with "Vigil", lets the fleet appear, captures the whole screen,
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
	for win in $$(xwininfo -root -tree | awk '/"Vigil/ { print $$1 }'); do
		xwininfo -id "$$win" | grep -q 'Map State: IsViewable' && found=$$win
	done
	[ -n "$$found" ] && break
	kill -0 "$$pid" 2>/dev/null || fail "the demo exited before showing a window"
	[ "$$waited" -lt $(SCREENSHOT_WAIT) ] || fail "no window named Vigil after $(SCREENSHOT_WAIT) s"
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
screenshot: XVFB_SCREEN = 1100x720x24
screenshot: deps build
	$(XVFB_RUN) sh -c "$$SCREENSHOT_SCRIPT"
	@echo "screenshot: $(SCREENSHOT)"

## bench: benchmarks only; -run '^$' matches no test, so no unit tests run.
bench: deps
	$(GO) test -run '^$$' -bench . -benchmem ./...

## clean: build output, packaging output and Fyne's failed golden images.
clean:
	rm -rf bin dist
	find . -path ./.git -prune -o -type d -path '*/testdata/failed' -prune -exec rm -rf {} +
