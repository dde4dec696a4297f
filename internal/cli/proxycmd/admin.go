package proxycmd

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/serinhq/serin/internal/proxy"
)

// adminToken returns the token the admin API's writes need: token, or
// the contents of file; a new one, written to file (or to a file of the
// user's runtime or cache directory named after the admin address) when
// neither is there.
func adminToken(token, file, admin string, log *slog.Logger) (string, error) {
	switch {
	case token != "" && file != "":
		return "", errors.New("admin token: give --admin-token or --admin-token-file, not both")
	case token != "":
		return token, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err == nil {
			if t := strings.TrimSpace(string(b)); t != "" {
				return t, nil
			}
			return "", fmt.Errorf("admin token file %s: empty", file)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("admin token file: %w", err)
		}
	default:
		dir, err := tokenDir()
		if err != nil {
			return "", err
		}
		file = filepath.Join(dir, "proxy-admin-"+fileSafe(admin)+".token")
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	token = hex.EncodeToString(b[:])
	if err := writePrivate(file, token+"\n"); err != nil {
		return "", fmt.Errorf("admin token file: %w", err)
	}
	log.Info("admin token written: writes to the admin API need it as a bearer token", "file", file)
	return token, nil
}

// tokenDir is where generated tokens go: serin's directory in the user's
// runtime directory, or else cache directory, created private.
func tokenDir() (string, error) {
	base := os.Getenv("XDG_RUNTIME_DIR")
	if base == "" {
		var err error
		if base, err = os.UserCacheDir(); err != nil {
			return "", fmt.Errorf("admin token: no directory to write it to (give --admin-token-file): %w", err)
		}
	}
	dir := filepath.Join(base, "serin")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("admin token directory: %w", err)
	}
	return dir, nil
}

// writePrivate writes s to a file only its owner can read or write.
func writePrivate(path, s string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	err = f.Chmod(0o600) // an existing file keeps its mode otherwise
	if _, werr := f.WriteString(s); err == nil {
		err = werr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func fileSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' {
			return r
		}
		return '_'
	}, s)
}

// listenAdmin listens on the admin API's address: unix:PATH is a unix
// socket only the user can use; a TCP address off loopback is warned
// about.
func listenAdmin(addr string, log *slog.Logger) (net.Listener, error) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		if fi, err := os.Lstat(path); err == nil && fi.Mode()&fs.ModeSocket != 0 {
			_ = os.Remove(path) // left by an earlier run
		}
		ln, err := net.Listen("unix", path)
		if err != nil {
			return nil, fmt.Errorf("admin listener: %w", err)
		}
		if err := os.Chmod(path, 0o600); err != nil {
			_ = ln.Close()
			return nil, fmt.Errorf("admin listener: %w", err)
		}
		return ln, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin listener: %w", err)
	}
	if !proxy.IsLoopback(addr) {
		log.Warn("THE ADMIN API IS NOT ON LOOPBACK: whoever reaches this address reads the routes and metrics, and with the token changes the routes; listen on 127.0.0.1 or unix:PATH unless that is meant",
			"admin", ln.Addr().String())
	}
	return ln, nil
}
