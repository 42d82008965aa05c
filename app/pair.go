package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/vigilops/vigil/actions"
	"github.com/vigilops/vigil/model"
)

func pairCmd(args []string, stdout, stderr io.Writer) int {
	var address string
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		address, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("pair", flag.ContinueOnError)
	data := dataDirFlag(fs)
	code := fs.String("code", "", "the pairing `CODE` printed by vigil-agent pair-code")
	all := fs.Bool("all", false, "pair with every discovered, unpaired agent that accepts the code")
	wait := fs.Duration("wait", 3*time.Second, "with --all: how long to discover agents first")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	if (address == "") == !*all {
		fmt.Fprintln(stderr, "vigil pair: give an agent's ADDRESS (host:port) or --all, not both")
		return exitUsage
	}
	if _, err := actions.NormalizePairCode(*code); err != nil {
		fmt.Fprintln(stderr, "vigil pair: --code:", err)
		return exitUsage
	}
	c, ctx, closeConsole, exit := openCLIConsole("pair", *data, stderr)
	if c == nil {
		return exit
	}
	defer closeConsole()

	targets := []string{address}
	if *all {
		select {
		case <-ctx.Done():
			return exitFailed
		case <-time.After(*wait):
		}
		targets = nil
		for _, v := range c.mon.Snapshot() {
			if !v.Paired && v.Address != "" {
				targets = append(targets, v.Address)
			}
		}
		if len(targets) == 0 {
			fmt.Fprintln(stdout, "no unpaired agents found; wait longer with --wait, or pair one by ADDRESS")
			return exitOK
		}
	}
	failed, paired := 0, 0
	for _, addr := range targets {
		v, err := c.pair(ctx, addr, *code)
		if err != nil {
			failed++
			fmt.Fprintf(stderr, "vigil pair: %s: %v\n", addr, err)
			continue
		}
		paired++
		fmt.Fprintf(stdout, "paired with %s (%s, system %s) at %s\n", v.Name, v.ID, dash(v.System), addr)
	}
	switch {
	case failed == 0:
		return exitOK
	case *all && paired > 0:
		// --all pairs with the agents that accept the code; others on the
		// LAN may wait for another console's code.
		fmt.Fprintf(stdout, "paired with %d agents; %d did not accept the code (see above)\n", paired, failed)
		return exitOK
	}
	return exitFailed
}

// pair runs the pairing exchange with the agent at address and starts
// watching it.
func (c *core) pair(ctx context.Context, address, code string) (model.ServerView, error) {
	name, _ := os.Hostname()
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	fp, err := actions.Pair(pctx, address, code, "vigil console on "+name, c.cert)
	if err != nil {
		if errors.Is(err, actions.ErrWrongPairCode) {
			return model.ServerView{}, fmt.Errorf("%w (check the code; after 5 wrong codes the agent locks pairing for 15 minutes)", err)
		}
		return model.ServerView{}, err
	}
	v, err := c.mon.Add(ctx, address, fp)
	return v, err
}
