// Command vigil is the Vigil operator console: the GUI by default, and the
// subcommands of DESIGN.md (status, fleet, demo, agent, ...).
package main

import (
	"os"

	"github.com/vigilops/vigil/app"
)

func main() {
	os.Exit(app.Main(os.Args[1:]))
}
