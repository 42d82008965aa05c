package fleet

import "os"

func terminate(p *os.Process) { p.Kill() }
