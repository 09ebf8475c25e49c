// Package pgdev runs a private PostgreSQL server from the locally installed
// binaries, for `rma dev` and for tests: data under a directory of ours, a
// free loopback port, trust auth on loopback only. initdb refuses to run as
// root, so when we are root the server runs as the unprivileged "postgres"
// system user (the one Debian's package creates).
package pgdev

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	_ "github.com/lib/pq" // the database/sql driver for PostgreSQL
)

// InstallHint is shown when no PostgreSQL binaries are found.
const InstallHint = "install PostgreSQL (Debian/Ubuntu: apt-get install -y postgresql; macOS: brew install postgresql@15) or pass --database-url"

// Server is a running private PostgreSQL.
type Server struct {
	URL  string
	Port int
	cmd  *exec.Cmd
	done chan error
}

// PID is the postmaster's process ID (its backends are its children).
func (s *Server) PID() int {
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// FindBinaries returns the directory holding initdb and postgres: PATH
// first, then /usr/lib/postgresql/*/bin (newest version first).
func FindBinaries() (string, error) { return findBinaries("/usr/lib/postgresql/*/bin") }

func findBinaries(glob string) (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		dir := filepath.Dir(p)
		if real, err := filepath.EvalSymlinks(p); err == nil {
			dir = filepath.Dir(real)
		}
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob(glob)
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("no PostgreSQL server binaries (initdb, postgres) on PATH or in /usr/lib/postgresql/*/bin: %s", InstallHint)
}

func version(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

// Start initializes dataDir if needed and starts the server on a free
// loopback port, with a database named dbName.
func Start(ctx context.Context, dataDir, dbName string) (*Server, error) {
	bin, err := FindBinaries()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create postgres dir: %w", err)
	}
	cred, err := credential(dataDir)
	if err != nil {
		return nil, err
	}
	pgdata := filepath.Join(dataDir, "data")
	if _, err := os.Stat(filepath.Join(pgdata, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		cmd := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", pgdata, "-U", "rma", "--auth=trust", "-E", "UTF8", "--locale=C")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("initdb: %w: %s", err, strings.TrimSpace(string(out)))
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	sock := filepath.Join(dataDir, "sock")
	if err := os.MkdirAll(sock, 0o700); err != nil {
		return nil, fmt.Errorf("create socket dir: %w", err)
	}
	if cred != nil {
		if err := os.Chown(sock, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, fmt.Errorf("chown socket dir: %w", err)
		}
	}
	s := &Server{Port: port, done: make(chan error, 1)}
	s.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", pgdata, "-p", strconv.Itoa(port), "-h", "127.0.0.1", "-k", sock,
		// 200: the topology's real Temporal cluster keeps its own pools
		// (24 connections) in this server beside rma's.
		"-c", "fsync=on", "-c", "max_connections=200")
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	logf, err := os.OpenFile(filepath.Join(dataDir, "postgres.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open postgres log: %w", err)
	}
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	go func() { s.done <- s.cmd.Wait(); logf.Close() }()
	admin := fmt.Sprintf("postgres://rma@127.0.0.1:%d/postgres?sslmode=disable", port)
	if err := waitReady(ctx, admin, s.done); err != nil {
		s.Stop()
		return nil, fmt.Errorf("postgres did not start (see %s): %w", filepath.Join(dataDir, "postgres.log"), err)
	}
	if err := ensureDB(ctx, admin, dbName); err != nil {
		s.Stop()
		return nil, err
	}
	s.URL = fmt.Sprintf("postgres://rma@127.0.0.1:%d/%s?sslmode=disable", port, dbName)
	return s, nil
}

// credential is nil when we are not root; as root it is the postgres user,
// who must own the data directory.
func credential(dataDir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, PostgreSQL must run as an unprivileged user, but there is no \"postgres\" user: %w (%s)", err, InstallHint)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := filepath.Walk(dataDir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	}); err != nil {
		return nil, fmt.Errorf("hand %s to the postgres user: %w", dataDir, err)
	}
	// The postgres user must be able to reach the directory.
	for d := filepath.Dir(dataDir); d != "/" && d != "."; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o001 == 0 {
			_ = os.Chmod(d, fi.Mode().Perm()|0o001)
		}
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitReady(ctx context.Context, url string, done <-chan error) error {
	db, err := sql.Open("postgres", url)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer db.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-done:
			return fmt.Errorf("postgres exited: %v", err)
		default:
		}
		if err = db.PingContext(ctx); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after 30s: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func ensureDB(ctx context.Context, adminURL, name string) error {
	db, err := sql.Open("postgres", adminURL)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer db.Close()
	var exists bool
	if err := db.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %s: %w", name, err)
	}
	if !exists {
		if _, err := db.ExecContext(ctx, `CREATE DATABASE "`+strings.ReplaceAll(name, `"`, "")+`"`); err != nil {
			return fmt.Errorf("create database %s: %w", name, err)
		}
	}
	return nil
}

// Stop shuts the server down cleanly (SIGINT: fast shutdown, which
// checkpoints) and waits for it.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}
