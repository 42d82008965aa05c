package alert

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/zalando/go-keyring"
)

// PasswordFile is the file in the data directory that keeps the SMTP
// password where there is no OS keyring. It is readable only by its owner.
const PasswordFile = "alert-smtp-password"

// keyringService names Vigil's entries in the OS keyring.
const keyringService = "vigil"

// keyringTimeout bounds a keyring call: the keyring libraries take no
// context, and a locked keyring may wait for the user to unlock it.
const keyringTimeout = 20 * time.Second

// Secrets keeps the SMTP password out of the store: in the OS keyring where
// one answers (Secret Service over D-Bus on Linux, the Keychain on macOS, the
// Credential Manager on Windows), otherwise in PasswordFile (0600) in the
// data directory.
type Secrets struct {
	dir string
	log *slog.Logger
	// NoKeyring keeps the password in the file even where a keyring exists.
	NoKeyring bool
}

// NewSecrets keeps passwords for the console whose data directory is dir.
func NewSecrets(dir string, log *slog.Logger) *Secrets {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return &Secrets{dir: dir, log: log}
}

// keyringUser names this data directory's entry, so that two data
// directories (the demo's and the real one) keep separate passwords.
func (s *Secrets) keyringUser() string { return "smtp-password " + s.dir }

// keyringMissing returns why there is no OS keyring to try, or "".
func (s *Secrets) keyringMissing() string {
	if s.NoKeyring {
		return "the keyring is turned off"
	}
	switch runtime.GOOS {
	case "darwin", "windows":
		return ""
	case "linux", "freebsd", "openbsd", "netbsd", "dragonfly":
		// Without a session bus, godbus would try to start one with
		// dbus-launch; there is no Secret Service to talk to anyway.
		if os.Getenv("DBUS_SESSION_BUS_ADDRESS") == "" {
			return "no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set), so no Secret Service"
		}
		return ""
	}
	return "no OS keyring on " + runtime.GOOS
}

// Put keeps password and returns the reference to save in the settings.
func (s *Secrets) Put(ctx context.Context, password Secret) (ref string, err error) {
	if password == "" {
		return "", errors.New("the password is empty")
	}
	reason := s.keyringMissing()
	if reason == "" {
		_, err := callKeyring(ctx, func() (string, error) {
			return "", keyring.Set(keyringService, s.keyringUser(), password.Reveal())
		})
		if err == nil {
			// A password kept in the keyring must not linger in a file.
			os.Remove(filepath.Join(s.dir, PasswordFile))
			return "keyring:" + s.keyringUser(), nil
		}
		reason = scrub(err.Error(), password)
	}
	path := filepath.Join(s.dir, PasswordFile)
	s.log.Info("no usable OS keyring; keeping the SMTP password in a file only you can read", "file", path, "reason", reason)
	if err := writePrivate(path, []byte(password.Reveal())); err != nil {
		return "", fmt.Errorf("keep the SMTP password in %s: %w", path, err)
	}
	return "file:" + PasswordFile, nil
}

// Get returns the password ref points to.
func (s *Secrets) Get(ctx context.Context, ref string) (Secret, error) {
	kind, name, _ := strings.Cut(ref, ":")
	switch kind {
	case "keyring":
		pw, err := callKeyring(ctx, func() (string, error) { return keyring.Get(keyringService, name) })
		if errors.Is(err, keyring.ErrNotFound) {
			return "", errors.New("the SMTP password is no longer in the OS keyring: set it again with vigil alert set --password-file FILE")
		}
		if err != nil {
			return "", fmt.Errorf("read the SMTP password from the OS keyring: %s", scrub(err.Error(), Secret(pw)))
		}
		return Secret(pw), nil
	case "file":
		if name != filepath.Base(name) || name == "." || name == ".." {
			return "", fmt.Errorf("password reference %q does not name a file in the data directory", ref)
		}
		path := filepath.Join(s.dir, name)
		if fi, err := os.Stat(path); err == nil && runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
			s.log.Warn("the SMTP password file is readable by others; make it 0600", "file", path, "mode", fi.Mode().Perm().String())
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("read the SMTP password: %w; set it again with vigil alert set --password-file FILE", err)
		}
		return Secret(b), nil
	}
	return "", fmt.Errorf("password reference %q is neither keyring: nor file:", ref)
}

// DescribeRef says where a password reference keeps the password, for
// people.
func DescribeRef(ref string) string {
	kind, name, _ := strings.Cut(ref, ":")
	switch kind {
	case "keyring":
		return "in the OS keyring"
	case "file":
		return "in " + name + " in the data directory (readable only by you)"
	case "":
		return "none"
	}
	return ref
}

// callKeyring runs f with a time limit. On timeout the call is abandoned:
// the keyring libraries cannot be cancelled, so its goroutine ends whenever
// the keyring answers.
func callKeyring(ctx context.Context, f func() (string, error)) (string, error) {
	type result struct {
		v   string
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := f()
		ch <- result{v, err}
	}()
	t := time.NewTimer(keyringTimeout)
	defer t.Stop()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-t.C:
		return "", fmt.Errorf("the OS keyring did not answer within %v (is it locked?)", keyringTimeout)
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// writePrivate replaces path with b, readable only by the owner.
func writePrivate(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		f.Close()
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// scrub removes a secret from a message that might, against expectation,
// contain it.
func scrub(msg string, secret Secret) string {
	if secret == "" {
		return msg
	}
	return strings.ReplaceAll(msg, secret.Reveal(), redacted)
}
