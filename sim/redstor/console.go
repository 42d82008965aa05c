package redstor

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vigilops/vigil/sim"
)

// stdout is where the one-shot tools print their result: the command's
// output, which the agent returns to the console.
var stdout io.Writer = os.Stdout

// consoleTimeout bounds an SP Console operation; a database backup calls
// every Slave.
const consoleTimeout = 10 * time.Second

// runConsole is one SP Console operation against the AccountServer on this
// host (--name), or, for register-slave, against the Master among --peers.
// It prints what it did and exits; an operation the AccountServer refuses
// is an error (exit status 1).
func runConsole(ctx context.Context, env *sim.Env) error {
	var name, hostList, op, peers string
	var req consoleRequest
	if err := env.Flags(toolConsole, func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "", "this host's `NAME`, whose AccountServer the Console connects to")
		fs.StringVar(&hostList, "hosts", "", "the host table, `NAME=ADDR,...`")
		fs.StringVar(&op, "op", "", "the `OPERATION`: show, change-address, add-mirror, delete-entry, set-mirroring, groups, db-backup, register-slave")
		fs.StringVar(&req.Entry, "entry", "", "change-address: the StorageServer entry's `NAME`")
		fs.StringVar(&req.To, "to", "", "change-address: the new `HOST`")
		fs.StringVar(&req.Of, "of", "", "add-mirror: the StorageServer entry mirrored")
		fs.StringVar(&req.Host, "host", "", "add-mirror, delete-entry, set-mirroring: the server's `HOST`")
		fs.StringVar(&req.Name, "entry-name", "", "add-mirror: the new entry's `NAME`")
		fs.StringVar(&req.Type, "type", "", "delete-entry: the entry's BackupServer `TYPE`")
		fs.BoolVar(&req.Enabled, "enabled", false, "set-mirroring: enable (true) or disable (false) mirroring")
		fs.BoolVar(&req.Disabled, "disabled", false, "groups: tick (true) or clear (false) Group Is Disabled for every Group")
		fs.StringVar(&peers, "peers", "", "register-slave: the other AccountServers' host `NAMES`, comma-separated")
	}); err != nil {
		return err
	}
	if name == "" || op == "" {
		return errors.New("vigil sim " + toolConsole + ": --name and --op are required")
	}
	hosts, err := parseHosts(hostList)
	if err != nil {
		return err
	}
	p, err := listen(name, hosts, nil)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go p.run(ctx)
	req.Op = op
	target := name
	switch op {
	case "show", "db-backup":
	case "change-address":
		err = need(op, "--entry", req.Entry, "--to", req.To)
	case "add-mirror":
		err = need(op, "--of", req.Of, "--host", req.Host)
		if req.Name == "" {
			req.Name = req.Host
		}
	case "delete-entry":
		err = need(op, "--type", req.Type, "--host", req.Host)
	case "set-mirroring":
		err = need(op, "--host", req.Host)
	case "groups":
	case "register-slave":
		target, err = registerTarget(ctx, env, p, name, peers, &req)
	default:
		err = fmt.Errorf("--op %q is not an SP Console operation this simulation knows", op)
	}
	if err != nil {
		return err
	}
	var rep consoleReply
	if err := p.call(ctx, target, "console", req, &rep, consoleTimeout); err != nil {
		return fmt.Errorf("SP Console %s on %s: %w", op, target, err)
	}
	fmt.Fprintln(stdout, strings.TrimRight(rep.Output, "\n"))
	return nil
}

func need(op string, kv ...string) error {
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			return fmt.Errorf("--op %s needs %s", op, kv[i])
		}
	}
	return nil
}

// registerTarget prepares the document's BackupServer step for the demoted
// Master this tool runs on: it notes this server's ServerGUID from its
// Settings.xml, as the operator does, and finds the Master among the peers
// (the promoted Slave), whose database gets the entry.
func registerTarget(ctx context.Context, env *sim.Env, p *peer, name, peers string, req *consoleRequest) (string, error) {
	s, _, err := readSettings(filepath.Join(env.Host(asServiceDir...), settingsFile))
	if err != nil {
		return "", err
	}
	req.GUID, req.Host = s.GUID, name
	fmt.Fprintf(stdout, "This AccountServer (%s): ServerGUID %s, IsSlave %s in Settings.xml.\n", name, s.GUID, pyBool(s.IsSlave))
	if !s.IsSlave {
		fmt.Fprintf(stdout, "Note: IsSlave is False; set it to True before the service is restarted, or there will be two Masters.\n")
	}
	var tried []string
	for _, h := range strings.Split(peers, ",") {
		if h = strings.TrimSpace(h); h == "" || h == name {
			continue
		}
		var hello helloReply
		if err := p.callRetry(ctx, h, "hello", nil, &hello, callTimeout); err != nil {
			tried = append(tried, err.Error())
			continue
		}
		if hello.Service == winAS && hello.Role == "Master" {
			fmt.Fprintf(stdout, "Connected to the Master AccountServer %s (ServerGUID %s).\n", h, hello.GUID)
			return h, nil
		}
		tried = append(tried, fmt.Sprintf("%s is a %s %s", h, hello.Role, hello.Service))
	}
	if len(tried) == 0 {
		return "", errors.New("register-slave: --peers names no other AccountServer")
	}
	return "", fmt.Errorf("no Master AccountServer answers (%s): start the promoted Slave's AccountServer service first", strings.Join(tried, "; "))
}

// runIntegrityCheck asks the StorageServer service on this host to check
// its backup accounts, prints the report, and fails (exit status 1) when an
// account is incomplete.
func runIntegrityCheck(ctx context.Context, env *sim.Env) error {
	var name, hostList string
	if err := env.Flags(toolIntegrity, func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "", "this host's `NAME`")
		fs.StringVar(&hostList, "hosts", "", "the host table, `NAME=ADDR,...`")
	}); err != nil {
		return err
	}
	if name == "" {
		return errors.New("vigil sim " + toolIntegrity + ": --name is required")
	}
	hosts, err := parseHosts(hostList)
	if err != nil {
		return err
	}
	p, err := listen(name, hosts, nil)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go p.run(ctx)
	var r integrityReport
	if err := p.call(ctx, name, "integrity-check", nil, &r, consoleTimeout); err != nil {
		return fmt.Errorf("integrity check: the StorageServer service on %s does not answer (is it running?): %w", name, err)
	}
	fmt.Fprint(stdout, r.Report)
	if r.Incomplete > 0 {
		return fmt.Errorf("integrity check: %d of %d accounts incomplete", r.Incomplete, r.Accounts)
	}
	return nil
}
