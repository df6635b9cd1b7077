package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hopscope/hopscope/internal/cli"
	"github.com/hopscope/hopscope/internal/modroot"
)

// modulePath is the module whose source tree holds examples/demo.
const modulePath = "github.com/hopscope/hopscope"

// demoBuildNotice is printed when building the demo takes longer than
// demoNoticeAfter, that is when the build, not the demo, is the wait.
const (
	demoBuildNotice = "hopscope demo: building the demo (examples/demo); the first build on a machine takes about a minute, later runs start at once\n"
	demoNoticeAfter = time.Second
)

// runDemo is `hopscope demo`: it builds examples/demo — its own program,
// so that the shop example, the stand-ins and the real-component starters
// it runs stay out of this binary — from the hopscope source tree around
// the working directory into the user's cache directory (`go build` does
// nothing when it is up to date), then runs it with args and the same
// stdio, forwarding SIGINT and SIGTERM (and ctx's end, as SIGTERM) and
// returning its exit code as a cli.ExitCode.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root, err := sourceTree()
	if err != nil {
		return fmt.Errorf("%w\nThe demo is built from the hopscope source tree: git clone https://%s && cd hopscope && go run ./cmd/hopscope demo", err, modulePath)
	}
	bin, err := buildDemo(ctx, root, stderr)
	if err != nil {
		return err
	}

	cmd := exec.Command(bin, args...) // in the working directory, as --config expects
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	defer signal.Stop(sig)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("running %s: %w", bin, err)
	}
	done := make(chan struct{})
	go func() {
		ctxDone := ctx.Done()
		for {
			select {
			case s := <-sig:
				_ = cmd.Process.Signal(s)
			case <-ctxDone:
				_ = cmd.Process.Signal(syscall.SIGTERM)
				ctxDone = nil
			case <-done:
				return
			}
		}
	}()
	err = cmd.Wait()
	close(done)
	var ee *exec.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee) && ee.ExitCode() > 0:
		return cli.ExitCode(ee.ExitCode()) // the demo said why
	default:
		return fmt.Errorf("running %s: %w", bin, err)
	}
}

// sourceTree returns the root of the hopscope module around the working
// directory.
func sourceTree() (string, error) {
	root, err := modroot.FromWorkingDir()
	if err != nil {
		return "", fmt.Errorf("not in the hopscope source tree: %w", err)
	}
	f, err := os.Open(filepath.Join(root, "go.mod"))
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if mod, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			if strings.Trim(strings.TrimSpace(mod), `"`) != modulePath {
				return "", fmt.Errorf("not in the hopscope source tree: %s is module %s", filepath.Join(root, "go.mod"), strings.TrimSpace(mod))
			}
			if _, err := os.Stat(filepath.Join(root, "examples", "demo")); err != nil {
				return "", fmt.Errorf("the source tree at %s has no examples/demo: %w", root, err)
			}
			return root, nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("not in the hopscope source tree: %s names no module", filepath.Join(root, "go.mod"))
}

// buildDemo runs `go build` of examples/demo in root into the user's cache
// directory, one binary per source tree, and returns its path. When the
// build takes longer than demoNoticeAfter, it says so on stderr.
func buildDemo(ctx context.Context, root string, stderr io.Writer) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("building the demo needs the go command: %w", err)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	sum := sha256.Sum256([]byte(root))
	bin := filepath.Join(cache, "hopscope", "demo-"+hex.EncodeToString(sum[:6]))
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", bin, "./examples/demo")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("building the demo: %w", err)
	}
	notice := time.AfterFunc(demoNoticeAfter, func() { io.WriteString(stderr, demoBuildNotice) })
	err = cmd.Wait()
	notice.Stop()
	if err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("building the demo: interrupted")
		}
		return "", fmt.Errorf("building the demo (go build ./examples/demo in %s): %w", root, err)
	}
	return bin, nil
}
