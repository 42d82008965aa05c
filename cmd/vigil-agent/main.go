// Command vigil-agent is the Vigil host agent: it runs on every managed
// server, reports its role and serves the agent API to consoles.
package main

import (
	"os"

	"github.com/vigilops/vigil/agent"
)

func main() {
	os.Exit(agent.Main(os.Args[1:], os.Stdout, os.Stderr))
}
