package app

import "testing"

func TestConsoleCommand(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"--data", `C:\vigil`}, false},
		{[]string{"-data=x"}, false},
		{[]string{"demo"}, false},
		{[]string{"demo", "--data", "x"}, false},
		{[]string{""}, false},
		{[]string{"version"}, true},
		{[]string{"procedure", "run", "x"}, true},
		{[]string{"watch", "--json"}, true},
		{[]string{"-h"}, true},
		{[]string{"--help"}, true},
		{[]string{"bogus"}, true},
	} {
		if got := consoleCommand(tc.args); got != tc.want {
			t.Errorf("consoleCommand(%q) = %v, want %v", tc.args, got, tc.want)
		}
	}
}
