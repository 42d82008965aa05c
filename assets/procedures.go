package assets

import "embed"

// Procedures holds the vendor procedures, one YAML file each, and the
// README that describes their format. The procedure package loads them.
//
//go:embed procedures/*.yaml procedures/README.md
var Procedures embed.FS
