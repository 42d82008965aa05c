package actions

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A closed port on this machine: what dialling it returns.
func refusedErr(t *testing.T) error {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = net.DialTimeout("tcp", addr, 5*time.Second)
	if err == nil {
		t.Skip("the closed port answered")
	}
	return fmt.Errorf("watch https://%s: %w", addr, err)
}

func TestExplainSaysWhatFailedInWords(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"refused", refusedErr(t), "no agent listens on its port (connection refused)"},
		{"timeout", fmt.Errorf("dial: %w", ctx.Err()), "no answer from the host in time"},
		{"closed", fmt.Errorf("watch: %w", io.ErrUnexpectedEOF), "the agent closed the connection"},
		{"name", &net.DNSError{Name: "k2server1.example", Err: "no such host"}, "does not resolve (k2server1.example)"},
		{"unpaired", &StatusError{URL: "https://x/v1/watch", Status: http.StatusUnauthorized}, "does not accept this console"},
		{"identity", fmt.Errorf("watch: %w", ErrIdentityChanged), "another key than the one pinned"},
		{"refused by the agent", &AgentError{Status: http.StatusConflict, Result: Result{Error: "epoch 3 is older than 5"}}, "the agent refused the request: epoch 3 is older than 5"},
		{"other", errors.New("something else"), "something else"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Explain(tt.err); !strings.Contains(got, tt.want) {
				t.Errorf("Explain(%v) = %q, want it to say %q", tt.err, got, tt.want)
			}
		})
	}
	if Explain(nil) != "" {
		t.Error("Explain(nil) says something")
	}
}
