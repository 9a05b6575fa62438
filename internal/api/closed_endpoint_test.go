package api_test

import (
	"fmt"
	"syscall"
	"testing"
)

// closedEndpoint is the URL of a port nothing listens on, so connections to it are
// refused: a TCP socket bound to it and never listening, held until the test ends. A
// listener closed at once would free the port for any other test's server to take, and
// the "unreachable" store would then answer.
func closedEndpoint(t *testing.T) string {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("http://127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
}
