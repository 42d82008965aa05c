package actions

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
)

// Confine resolves rel, a path that came with a request, inside the declared
// directory root. It refuses, with a *RefusedError naming the path, anything
// that could reach outside root: absolute paths in Unix or Windows form,
// paths that climb out with "..", NUL bytes, and symbolic links (at any
// component, the last one included) that point outside root. The result is
// the absolute, cleaned path inside the resolved root, with every symbolic
// link that exists resolved; the file itself need not exist yet.
//
// Confine checks the path at one moment. Callers that then open the file go
// through an os.Root on the resolved root as well, so that a link swapped in
// afterwards cannot lead them out.
func Confine(root, rel string) (string, error) {
	clean, err := localPath(rel)
	if err != nil {
		return "", err
	}
	rroot, err := resolveRoot(root)
	if err != nil {
		return "", err
	}
	cur := rroot
	parts := strings.Split(clean, string(filepath.Separator))
	for i, part := range parts {
		next := filepath.Join(cur, part)
		fi, err := os.Lstat(next)
		if errors.Is(err, fs.ErrNotExist) {
			// Nothing below a missing component exists, so nothing below it can
			// be a link: the rest is taken as written.
			return filepath.Join(append([]string{cur}, parts[i:]...)...), nil
		}
		if err != nil {
			return "", fmt.Errorf("path %q in %s: %w", rel, rroot, err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			to, err := filepath.EvalSymlinks(next)
			if err != nil {
				// A dangling link could make a later create land anywhere.
				return "", refusef("path %q: symbolic link %s cannot be resolved (%v)", rel, next, err)
			}
			if !isWithin(rroot, to) {
				return "", refusef("path %q: symbolic link %s points to %s, outside %s", rel, next, to, rroot)
			}
			if fi, err = os.Lstat(to); err != nil {
				return "", fmt.Errorf("path %q in %s: %w", rel, rroot, err)
			}
			next = to
		}
		switch {
		case fi.Mode().Type()&^fs.ModeDir != 0:
			// Devices, pipes, sockets, and on Windows junctions (which Go reports
			// as irregular, and EvalSymlinks no longer follows).
			return "", refusef("path %q: %s is a special file (%s)", rel, next, fi.Mode().Type())
		case !fi.IsDir() && i < len(parts)-1:
			return "", fmt.Errorf("path %q in %s: %s is not a directory", rel, rroot, next)
		}
		cur = next
	}
	if cur == rroot {
		return "", refusef("path %q names the declared directory %s itself, not a file in it", rel, rroot)
	}
	return cur, nil
}

// localPath checks the form of a request path and returns it cleaned, with
// the host's separators. Backslashes count as separators everywhere, so that
// a procedure means the same thing on a Linux and a Windows agent.
func localPath(rel string) (string, error) {
	switch {
	case rel == "":
		return "", refusef("empty path")
	case strings.IndexByte(rel, 0) >= 0:
		return "", refusef("path %q contains a NUL byte", rel)
	case rel[0] == '/' || rel[0] == '\\':
		return "", refusef("path %q is absolute; give a path relative to the declared directory", rel)
	case len(rel) >= 2 && rel[1] == ':' && isASCIILetter(rel[0]):
		return "", refusef("path %q names a Windows drive; give a path relative to the declared directory", rel)
	case filepath.IsAbs(rel) || filepath.VolumeName(rel) != "":
		return "", refusef("path %q is absolute; give a path relative to the declared directory", rel)
	}
	p := filepath.Clean(filepath.FromSlash(strings.ReplaceAll(rel, `\`, "/")))
	if p == "." {
		return "", refusef("path %q names the declared directory itself, not a file in it", rel)
	}
	// IsLocal also rejects, on Windows, reserved names (NUL, COM1) and colons
	// (drive-relative paths, alternate data streams).
	if !filepath.IsLocal(p) {
		return "", refusef("path %q leaves the declared directory", rel)
	}
	return p, nil
}

func resolveRoot(root string) (string, error) {
	if root == "" {
		return "", errors.New("declared directory is empty")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return "", fmt.Errorf("declared directory %s: %w", root, err)
	}
	r, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("declared directory %s: %w", root, err)
	}
	return r, nil
}

// isWithin reports whether p is root or lies below it. Both must be absolute
// and clean.
func isWithin(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && (rel == "." || filepath.IsLocal(rel))
}

func isASCIILetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func refusef(format string, args ...any) error {
	return &RefusedError{Reason: fmt.Sprintf(format, args...)}
}

// confinedFile is a file a request named inside a declared directory. Every
// access goes through root, which refuses to follow links out of it even if
// the tree changes after Confine looked at it.
type confinedFile struct {
	root *os.Root
	rel  string // inside root, links resolved
	abs  string // for messages
}

func openConfined(dir, rel string) (*confinedFile, error) {
	abs, err := Confine(dir, rel)
	if err != nil {
		return nil, err
	}
	rroot, err := resolveRoot(dir)
	if err != nil {
		return nil, err
	}
	inside, err := filepath.Rel(rroot, abs)
	if err != nil {
		return nil, fmt.Errorf("path %q in %s: %w", rel, rroot, err)
	}
	r, err := os.OpenRoot(rroot)
	if err != nil {
		return nil, fmt.Errorf("declared directory %s: %w", rroot, err)
	}
	return &confinedFile{root: r, rel: inside, abs: abs}, nil
}

func (c *confinedFile) Close() error { return c.root.Close() }

// fileLocks holds a mutex for each file the agent has edited, so that a
// read, check and replace of one file is one step however many executors
// the agent builds: two requests cannot lose one another's change.
var fileLocks sync.Map // absolute path → *sync.Mutex

// lock locks the file against other edits by this process and returns the
// unlock.
func (c *confinedFile) lock() (unlock func()) {
	m, _ := fileLocks.LoadOrStore(c.abs, new(sync.Mutex))
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// errTooLarge marks a file longer than the caller will read.
var errTooLarge = errors.New("file too large")

// read returns the content of a regular file, at most max bytes of it.
func (c *confinedFile) read(max int64) ([]byte, fs.FileInfo, error) {
	// Lstat first: opening a FIFO for reading would block the agent.
	if fi, err := c.root.Lstat(c.rel); err != nil {
		return nil, nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s is not a regular file (%s)", c.abs, fi.Mode().Type())
	}
	f, err := c.root.Open(c.rel)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s is not a regular file (%s)", c.abs, fi.Mode().Type())
	}
	if fi.Size() > max {
		return nil, nil, fmt.Errorf("%s is %d bytes, more than %d: %w", c.abs, fi.Size(), max, errTooLarge)
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, nil, err
	}
	if int64(len(b)) > max {
		return nil, nil, fmt.Errorf("%s grew past %d bytes while being read: %w", c.abs, max, errTooLarge)
	}
	return b, fi, nil
}

// replace writes data over the file atomically: a reader sees either the old
// or the new content, never a part. like is the file being replaced, whose
// mode and owner the new one keeps, or nil for a new file with mode perm.
// When expect is not nil the file must still hold it just before the rename,
// so that an edit made meanwhile by someone else is not silently lost.
func (c *confinedFile) replace(data []byte, like fs.FileInfo, perm fs.FileMode, expect []byte) error {
	if like != nil {
		perm = like.Mode().Perm()
	}
	tmp, err := c.writeTemp(data, like, perm)
	if err != nil {
		return err
	}
	if expect != nil {
		if now, _, err := c.read(int64(len(expect)) + 1); err != nil || !bytes.Equal(now, expect) {
			c.root.Remove(tmp)
			return fmt.Errorf("%s changed on disk while it was being edited; nothing was written, run the step again", c.abs)
		}
	}
	if err := c.root.Rename(tmp, c.rel); err != nil {
		c.root.Remove(tmp)
		return err
	}
	if err := syncDir(c.root, filepath.Dir(c.rel)); err != nil {
		return fmt.Errorf("%s was replaced, but syncing its directory failed, so the change may not survive a power loss: %w", c.abs, err)
	}
	return nil
}

// writeTemp writes data to a new file next to the target and syncs it.
func (c *confinedFile) writeTemp(data []byte, like fs.FileInfo, perm fs.FileMode) (name string, err error) {
	// The temporary name does not contain the target's, so a vendor service
	// that watches for a pattern (Failover.*) does not pick it up half-written.
	name = filepath.Join(filepath.Dir(c.rel), ".vigil-"+tempSuffix(8)+".tmp")
	f, err := c.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			f.Close()
			c.root.Remove(name)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return "", err
	}
	// Chmod after create: the umask must not narrow the original mode.
	// Windows keeps only the read-only bit, which it may refuse to change.
	if err := f.Chmod(perm); err != nil && runtime.GOOS != "windows" {
		return "", err
	}
	if like != nil {
		if err := keepOwner(f, like); err != nil {
			return "", fmt.Errorf("%s: %w", c.abs, err)
		}
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	return name, f.Close()
}

// syncDir makes a rename in dir durable. Windows cannot open a directory for
// syncing and makes renames durable itself.
func syncDir(root *os.Root, dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := root.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// keepOwner gives the new file the owner of the one it replaces: a vendor
// service running as its own user must still be able to rewrite its settings
// after an agent running as root edited them. It refuses rather than leave
// the file with the wrong owner.
func keepOwner(f *os.File, like fs.FileInfo) error {
	uid, gid, ok := fileOwner(like)
	if !ok {
		return nil
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if u, g, ok := fileOwner(fi); ok && u == uid && g == gid {
		return nil
	}
	if err := f.Chown(uid, gid); err != nil {
		return fmt.Errorf("cannot keep owner %d:%d of the original file: %w", uid, gid, err)
	}
	return nil
}

// fileOwner returns the numeric owner of a file on systems that have one.
// Reflection keeps this file free of build tags: Windows has no Stat_t.
func fileOwner(fi fs.FileInfo) (uid, gid int, ok bool) {
	v := reflect.ValueOf(fi.Sys())
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return 0, 0, false
	}
	u, g := v.Elem().FieldByName("Uid"), v.Elem().FieldByName("Gid")
	if !u.CanUint() || !g.CanUint() {
		return 0, 0, false
	}
	return int(u.Uint()), int(g.Uint()), true
}

func tempSuffix(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
