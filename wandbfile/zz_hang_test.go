package wandbfile

import (
	"bytes"
	"math/rand"
	"os"
	"testing"
	"time"
)

func TestZZHang(t *testing.T) {
	var seeds [][]byte
	for _, p := range fixtureFiles(t) {
		d, _ := os.ReadFile(p)
		seeds = append(seeds, d)
	}
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 3000; i++ {
		d := bytes.Clone(seeds[rng.Intn(len(seeds))])
		for k := rng.Intn(8); k >= 0 && len(d) > 0; k-- {
			switch rng.Intn(3) {
			case 0:
				d[rng.Intn(len(d))] = byte(rng.Intn(256))
			case 1:
				if len(d) > 10 {
					d = d[:rng.Intn(len(d))]
				}
			case 2:
				j := rng.Intn(len(d) + 1)
				d = append(d[:j], append([]byte{byte(rng.Intn(256))}, d[j:]...)...)
			}
		}
		done := make(chan struct{})
		go func() {
			defer func() {
				if r := recover(); r != nil {
					os.WriteFile("/tmp/panic.bin", d, 0o644)
					t.Errorf("panic %v", r)
				}
				close(done)
			}()
			Read(bytes.NewReader(d), Options{})
		}()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			os.WriteFile("/tmp/hang.bin", d, 0o644)
			t.Fatalf("hang at iteration %d", i)
		}
	}
}
