// Package systems registers every simulated vendor system; importing it
// makes them available to `vigil fleet`, `vigil demo` and `vigil sim`.
package systems

import (
	"sort"

	"github.com/vigilops/vigil/sim"
	_ "github.com/vigilops/vigil/sim/infocast"
	_ "github.com/vigilops/vigil/sim/k2san"
	_ "github.com/vigilops/vigil/sim/nintex"
	_ "github.com/vigilops/vigil/sim/redstor"
	_ "github.com/vigilops/vigil/sim/wavestore"
)

// Profiles lists the profiles of the simulated systems, sorted.
func Profiles() []string {
	var out []string
	for p := range sim.Systems() {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}
