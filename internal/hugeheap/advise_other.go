//go:build !linux

package hugeheap

import "errors"

var errNotLinux = errors.New("transparent huge pages are Linux's")

func thpMode() (string, error) { return "", errNotLinux }

func heapAddress() uintptr { return 0 }

func adviseHeap(uintptr, map[[2]uintptr]bool) (uint64, error) { return 0, errNotLinux }
