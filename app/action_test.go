package app

import (
	"maps"
	"testing"
)

func TestParseActionArgs(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		want    actionArgs
		wantErr string
	}{
		{args: []string{"AS-1", "service.stop", "service=AS_Service", "--dry-run"},
			want: actionArgs{server: "AS-1", action: "service.stop", params: map[string]string{"service": "AS_Service"}, dryRun: true}},
		{args: []string{"--operator", "ana", "AS-1", "--json", "settings.set", "key=Settings/IsSlave", "value=a=b", "--request-id=01J0000000000000000000"},
			want: actionArgs{server: "AS-1", action: "settings.set", params: map[string]string{"key": "Settings/IsSlave", "value": "a=b"},
				asJSON: true, operator: "ana", requestID: "01J0000000000000000000"}},
		{args: []string{"AS-1", "service.status", "service=x", "--data", "/tmp/d"},
			want: actionArgs{server: "AS-1", action: "service.status", params: map[string]string{"service": "x"}, data: "/tmp/d"}},
		{args: []string{"AS-1"}, wantErr: "SERVER and ACTION are required"},
		{args: []string{"AS-1", "service.stop", "AS_Service"}, wantErr: `parameter "AS_Service" is not KEY=VALUE`},
		{args: []string{"AS-1", "service.stop", "a=1", "a=2"}, wantErr: "parameter a given twice"},
		{args: []string{"AS-1", "service.stop", "--force"}, wantErr: "unknown flag --force"},
		{args: []string{"AS-1", "service.stop", "--operator"}, wantErr: "--operator needs a value"},
		{args: []string{"AS-1", "service.stop", "--dry-run=yes"}, wantErr: "--dry-run takes no value"},
	} {
		got, err := parseActionArgs(tc.args)
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("%q: err = %v, want %q", tc.args, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		if got.server != tc.want.server || got.action != tc.want.action || !maps.Equal(got.params, tc.want.params) ||
			got.dryRun != tc.want.dryRun || got.asJSON != tc.want.asJSON || got.operator != tc.want.operator ||
			got.requestID != tc.want.requestID || got.data != tc.want.data {
			t.Errorf("%q: got %+v, want %+v", tc.args, got, tc.want)
		}
	}
}
