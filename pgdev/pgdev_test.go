package pgdev

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
)

func TestNoBinariesGivesTheInstallHint(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := findBinaries(filepath.Join(t.TempDir(), "*", "bin"))
	if err == nil || !strings.Contains(err.Error(), "apt-get install -y postgresql") {
		t.Fatalf("want the install hint, got %v", err)
	}
}

// TestStartSurvivesRestart starts a server, writes, stops it cleanly and
// starts it again on the same directory.
func TestStartSurvivesRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pg")
	ctx := context.Background()
	s, err := Start(ctx, dir, "rma")
	if err != nil {
		t.Fatal(err)
	}
	db, _ := sql.Open("postgres", s.URL)
	if _, err := db.Exec("CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s.Stop()
	s, err = Start(ctx, dir, "rma")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	db, _ = sql.Open("postgres", s.URL)
	defer db.Close()
	var v int
	if err := db.QueryRow("SELECT v FROM kept").Scan(&v); err != nil || v != 42 {
		t.Fatalf("data lost across restart: %v %d", err, v)
	}
}
