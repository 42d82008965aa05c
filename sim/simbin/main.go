// Command simbin runs the host agent and the simulated vendor services,
// without the console: tests of the simulations build it rather than the
// whole console, which needs a graphics stack.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/vigilops/vigil/agent"
	"github.com/vigilops/vigil/sim"
	_ "github.com/vigilops/vigil/sim/systems"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: simbin agent|sim ...")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "agent":
		os.Exit(agent.Main(os.Args[2:], os.Stdout, os.Stderr))
	case "sim":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := sim.Main(ctx, os.Args[2:], os.Stderr)
		stop()
		os.Exit(code)
	}
	fmt.Fprintf(os.Stderr, "simbin: unknown command %q\n", os.Args[1])
	os.Exit(2)
}
