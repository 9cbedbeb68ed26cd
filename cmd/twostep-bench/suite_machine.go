package main

import (
	"bufio"
	"debug/buildinfo"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// machineNote is every section's last settings line: when, on what, and
// how busy the machine was before the runs.
func (s *suite) machineNote() string {
	return fmt.Sprintf("Run %s, Linux %s, %s, %.2f cores busy with other work just before the runs",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), kernelRelease(), cpuModel(), s.idleBusy)
}

// kernelRelease is uname -r.
func kernelRelease() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return strings.TrimSpace(string(b))
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// goVersionOf is the Go release a binary was built with.
func goVersionOf(bin string) string {
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		return "Go ?"
	}
	return bi.GoVersion
}

// fsType is the type of the file system that holds path (df's
// --output=fstype), from the longest mount point above it.
func fsType(path string) string {
	path, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "unknown filesystem"
	}
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return "unknown filesystem"
	}
	best, typ := "", "unknown filesystem"
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		mnt := strings.ReplaceAll(f[1], `\040`, " ")
		if (path == mnt || strings.HasPrefix(path, strings.TrimSuffix(mnt, "/")+"/")) && len(mnt) >= len(best) {
			best, typ = mnt, f[2]
		}
	}
	return typ
}
