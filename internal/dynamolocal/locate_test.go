package dynamolocal

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeInstall lays out what `make dynamodb-local` leaves in dir, with the given release
// directory names, and returns the jar of the last one.
func fakeInstall(t *testing.T, dir string, releases ...string) string {
	t.Helper()
	var jar string
	for _, r := range releases {
		release := filepath.Join(dir, "lib", r)
		if err := os.MkdirAll(filepath.Join(release, "DynamoDBLocal_lib"), 0o755); err != nil {
			t.Fatal(err)
		}
		jar = filepath.Join(release, "DynamoDBLocal.jar")
		if err := os.WriteFile(jar, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return jar
}

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestLocateFindsTheInstall(t *testing.T) {
	root := t.TempDir()
	repoInstall := filepath.Join(root, "repo", filepath.FromSlash(packageDir))
	repoJar := fakeInstall(t, repoInstall, "dynamodb_local_2026-05-28")
	other := filepath.Join(root, "other")
	otherJar := fakeInstall(t, other, "dynamodb_local_2025-01-01", "dynamodb_local_2026-05-28")
	deep := filepath.Join(root, "repo", "internal", "store")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		dir     string
		env     map[string]string
		wd      string
		wantJar string
	}{
		{"explicit dir", other, nil, deep, otherJar},
		{"explicit dir over env", other, map[string]string{EnvDir: repoInstall}, deep, otherJar},
		{"env", "", map[string]string{EnvDir: other}, deep, otherJar},
		{"search upward from a package directory", "", nil, deep, repoJar},
		{"search from the repository root", "", nil, filepath.Join(root, "repo"), repoJar},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := locate(tt.dir, env(tt.env), tt.wd)
			if err != nil {
				t.Fatal(err)
			}
			if in.jar != tt.wantJar {
				t.Errorf("jar = %s, want %s", in.jar, tt.wantJar)
			}
			if want := filepath.Join(filepath.Dir(tt.wantJar), "DynamoDBLocal_lib"); in.lib != want {
				t.Errorf("lib = %s, want %s", in.lib, want)
			}
		})
	}
}

func TestLocateSaysHowToInstall(t *testing.T) {
	root := t.TempDir()
	valid := filepath.Join(root, "valid")
	fakeInstall(t, valid, "dynamodb_local_2026-05-28")
	damaged := filepath.Join(root, "damaged")
	fakeInstall(t, damaged, "dynamodb_local_2026-05-28")
	if err := os.RemoveAll(filepath.Join(damaged, "lib", "dynamodb_local_2026-05-28", "DynamoDBLocal_lib")); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(root, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		dir  string
		env  map[string]string
		want string
	}{
		{"nothing installed", "", nil, "make dynamodb-local"},
		// A wrong setting is reported, not quietly replaced by another install.
		{"explicit dir without a jar", empty, map[string]string{EnvDir: valid}, "make dynamodb-local"},
		{"env dir without a jar", "", map[string]string{EnvDir: empty}, EnvDir},
		{"jar without its native libraries", damaged, nil, "rm -rf .cache/dynamodb-local && make dynamodb-local"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := locate(tt.dir, env(tt.env), empty)
			if !errors.Is(err, ErrNotInstalled) {
				t.Fatalf("err = %v, want ErrNotInstalled", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestFindJavaSaysJavaIsNeeded(t *testing.T) {
	_, err := findJava(filepath.Join(t.TempDir(), "java"))
	if !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), "Java 17") {
		t.Errorf("err = %v, want ErrNotInstalled asking for Java 17", err)
	}
}

func TestTailBufferKeepsTheEnd(t *testing.T) {
	b := &tailBuffer{limit: 8}
	for _, s := range []string{"abc", "defgh", "ijklmnopq"} {
		if _, err := b.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	if got := b.String(); got != "jklmnopq" {
		t.Errorf("String() = %q, want the last 8 bytes %q", got, "jklmnopq")
	}
}
