package netlab

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// envEcho makes the test binary an echo server on the given address: the
// lab's test runs it inside host B.
const envEcho = "NETLAB_TEST_ECHO"

func TestMain(m *testing.M) {
	if addr := os.Getenv(envEcho); addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("listening")
		for {
			c, err := ln.Accept()
			if err != nil {
				os.Exit(1)
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}
	os.Exit(m.Run())
}

// TestLabCutsAndHeals runs inside host A of a three-host lab, talks to an
// echo server on host B, and checks that a cut is silent (a timeout, not a
// refusal) and that healing it restores the link, while host C, which the
// cut does not concern, still reaches B.
func TestLabCutsAndHeals(t *testing.T) {
	// A namespace left by a test process that is gone is removed.
	gone := exec.Command("true")
	if os.Getenv(envLab) == "" && os.Geteuid() == 0 && gone.Run() == nil {
		stale := fmt.Sprintf("%s%d-1-stale", nsPrefix, gone.Process.Pid)
		if exec.Command("ip", "netns", "add", stale).Run() == nil {
			t.Cleanup(func() { exec.Command("ip", "netns", "del", stale).Run() })
			defer func() {
				if _, err := os.Stat("/run/netns/" + stale); !errors.Is(err, os.ErrNotExist) && !t.Failed() {
					t.Errorf("the stale namespace %s is still there", stale)
				}
			}()
		}
	}
	lab, inside := Enter(t, "A", "A", "B", "C")
	if !inside {
		return
	}
	a, b, c := lab.Host("A"), lab.Host("B"), lab.Host("C")
	if a.Addr == b.Addr || a.Addr.String() != "198.18.0.6" {
		t.Fatalf("addresses: A %s, B %s", a.Addr, b.Addr)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	echoAddr := net.JoinHostPort(b.Addr.String(), "9000")
	srv := b.Command(exe)
	srv.Env = append(os.Environ(), envEcho+"="+echoAddr)
	out, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	line := make([]byte, len("listening\n"))
	if _, err := io.ReadFull(out, line); err != nil {
		t.Fatalf("echo server on B: %v", err)
	}

	echo := func(from *Host) error {
		var conn net.Conn
		var err error
		if from == a {
			conn, err = net.DialTimeout("tcp", echoAddr, 2*time.Second)
		} else {
			// C is another namespace than this test's: connect from
			// there with bash's /dev/tcp.
			return from.Command("bash", "-c", "exec 3<>/dev/tcp/"+b.Addr.String()+"/9000").Run()
		}
		if err != nil {
			return err
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := conn.Write([]byte("ping\n")); err != nil {
			return err
		}
		got := make([]byte, 5)
		if _, err := io.ReadFull(conn, got); err != nil || string(got) != "ping\n" {
			return fmt.Errorf("echo: %q, %v", got, err)
		}
		return nil
	}
	if err := echo(a); err != nil {
		t.Fatalf("A to B before the cut: %v", err)
	}
	lab.Cut(a, b)
	err = echo(a)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("A to B across the cut: %v, want a timeout (packets dropped, not refused)", err)
	}
	if err := echo(c); err != nil {
		t.Fatalf("C to B during A's cut: %v", err)
	}
	lab.Heal(a, b)
	if err := echo(a); err != nil {
		t.Fatalf("A to B after healing: %v", err)
	}
}

func TestRunPattern(t *testing.T) {
	for name, want := range map[string]string{
		"TestX":          "^TestX$",
		"TestX/sub_case": "^TestX$/^sub_case$",
		"TestX/a.b(c)":   `^TestX$/^a\.b\(c\)$`,
	} {
		if got := runPattern(name); got != want {
			t.Errorf("runPattern(%q) = %q, want %q", name, got, want)
		}
		if !strings.HasPrefix(runPattern(name), "^") {
			t.Errorf("runPattern(%q) is not anchored", name)
		}
	}
}
