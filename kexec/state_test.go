package kexec

import (
	"io/fs"
	"os"
	"strings"
	"testing"
	"testing/fstest"
)

func TestReadState(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		want    State
		wantErr string
	}{
		{
			name: "loaded, locked down",
			files: map[string]string{
				CrashLoadedFile:       "1\n",
				CrashSizeFile:         "268435456\n",
				LockdownFile:          "none [integrity] confidentiality\n",
				KexecLoadDisabledFile: "0\n",
			},
			want: State{Loaded: true, ReservedBytes: 256 << 20, Lockdown: "integrity"},
		},
		{
			name:  "not loaded, no reservation, no securityfs",
			files: map[string]string{CrashLoadedFile: "0\n", CrashSizeFile: "0\n", KexecLoadDisabledFile: "1\n"},
			want:  State{KexecLoadDisabled: true},
		},
		{name: "no kexec", files: map[string]string{}, wantErr: "no crash kexec support"},
		{name: "garbage", files: map[string]string{CrashLoadedFile: "yes\n", CrashSizeFile: "0"}, wantErr: `/sys/kernel/kexec_crash_loaded: want a decimal number, got "yes"`},
		{name: "size missing", files: map[string]string{CrashLoadedFile: "0"}, wantErr: "read /sys/kernel/kexec_crash_size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for n, d := range tt.files {
				fsys[n] = &fstest.MapFile{Data: []byte(d)}
			}
			got, err := ReadState(fsys)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestReadStateFixture(t *testing.T) {
	st, err := ReadState(fixtureFS(t, "testdata/loaded"))
	if err != nil {
		t.Fatal(err)
	}
	if !st.Loaded || st.ReservedBytes != 0x10000000 || st.Lockdown != "none" {
		t.Errorf("got %+v", st)
	}
}

func fixtureFS(t *testing.T, dir string) fs.FS {
	t.Helper()
	return os.DirFS(dir)
}
