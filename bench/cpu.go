package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// CPU time by process, from /proc: what each part of the topology spent.

// clockTicks is the kernel's USER_HZ, 100 on Linux.
const clockTicks = 100.0

// stat reads a process's parent and its CPU seconds (its own, plus its
// reaped children's when children is set).
func stat(pid int, children bool) (ppid int, secs float64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("read stat of %d: %w", pid, err)
	}
	// The command name is in parentheses and may hold spaces.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	// After the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
	if len(f) < 15 {
		return 0, 0, fmt.Errorf("short stat of %d", pid)
	}
	ppid, _ = strconv.Atoi(f[1])
	n := 12
	if children {
		n = 14
	}
	var ticks float64
	for i := 11; i <= n; i++ {
		v, _ := strconv.ParseFloat(f[i], 64)
		ticks += v
	}
	return ppid, ticks / clockTicks, nil
}

// cpuOf is the CPU seconds of a process and, with tree, of its children
// (PostgreSQL's backends) living and reaped.
func cpuOf(pid int, tree bool) float64 {
	_, secs, err := stat(pid, tree)
	if err != nil || !tree {
		return secs
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		child, err := strconv.Atoi(filepath.Base(d))
		if err != nil || child == pid {
			continue
		}
		if ppid, s, err := stat(child, false); err == nil && ppid == pid {
			secs += s
		}
	}
	return secs
}

// CPU is seconds of CPU by part of the topology.
type CPU struct {
	Server, Worker, Driver, Postgres float64
}

// Total is the sum.
func (c CPU) Total() float64 { return c.Server + c.Worker + c.Driver + c.Postgres }

func (s *stack) cpu() CPU {
	return CPU{Server: cpuOf(s.server.cmd.Process.Pid, false), Worker: cpuOf(s.worker.cmd.Process.Pid, false),
		Driver: cpuOf(os.Getpid(), false), Postgres: cpuOf(s.pg.PID(), true)}
}

func (c CPU) minus(o CPU) CPU {
	return CPU{Server: c.Server - o.Server, Worker: c.Worker - o.Worker, Driver: c.Driver - o.Driver, Postgres: c.Postgres - o.Postgres}
}

// per is milliseconds of CPU per run, over n runs.
func (c CPU) per(n int) CPU {
	k := 1000 / float64(n)
	return CPU{Server: c.Server * k, Worker: c.Worker * k, Driver: c.Driver * k, Postgres: c.Postgres * k}
}
