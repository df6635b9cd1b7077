package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// goBuild builds a static binary of pkg (CGO off, as the Dockerfile does).
func (k *cluster) goBuild(ctx context.Context, pkg, out string, ldflags string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w "+ldflags, "-o", out, pkg)
	cmd.Dir = k.root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v: %s", pkg, err, b)
	}
	return nil
}

// gitRevision is HEAD's commit, or "unknown".
func (k *cluster) gitRevision() string {
	out, err := exec.Command("git", "-C", k.root, "rev-parse", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// images is every image the cluster runs, with how each is made: the
// pause and CoreDNS images for the node, and with the workloads hopscope
// (as the Dockerfile describes it: both of hopscopeBinaries), the shop, Jaeger, the ingress nginx, the
// scale-out gateway (tools/gateway) and prometheus-adapter (tools/promadapter).
func (k *cluster) images(ctx context.Context) ([]imageSpec, error) {
	bin := k.cfg.path("bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return nil, err
	}
	const version = "dev"
	type goBin struct{ pkg, out, ldflags string }
	builds := []goBin{{"./test/cluster/pause", "pause", ""}}
	binaries := []struct{ ref, bin, inImage string }{
		{imagePause, filepath.Join(bin, "pause"), "/pause"},
		{imageCoreDNS, k.bins["coredns"], "/coredns"},
	}
	if k.cfg.Workloads {
		for _, b := range hopscopeBinaries {
			builds = append(builds, goBin{b.pkg, path.Base(b.inImage), "-X github.com/hopscope/hopscope/internal/version.Version=" + version})
		}
		builds = append(builds, goBin{"./examples/shop", "shop", ""})
		binaries = append(binaries, []struct{ ref, bin, inImage string }{
			{imageShop, filepath.Join(bin, "shop"), "/shop"},
			{imageJaeger, k.bins["jaeger"], "/jaeger"},
			{imageNginx, k.bins["nginx"], "/usr/sbin/nginx"},
			{imageGateway, k.bins["gateway"], "/gateway"},
			{imageAdapter, k.bins["prometheus-adapter"], "/adapter"},
		}...)
	}
	for _, b := range builds {
		if err := k.goBuild(ctx, b.pkg, filepath.Join(bin, b.out), b.ldflags); err != nil {
			return nil, err
		}
	}
	var specs []imageSpec
	if k.cfg.Workloads {
		hs := hopscopeImageConfig(version, k.gitRevision(), time.Now().UTC().Format(time.RFC3339))
		base, err := nonrootBase()
		if err != nil {
			return nil, err
		}
		hs.Files = base
		for _, b := range hopscopeBinaries {
			data, err := os.ReadFile(filepath.Join(bin, path.Base(b.inImage)))
			if err != nil {
				return nil, err
			}
			hs.Files = append(hs.Files, imageFile{Path: strings.TrimPrefix(b.inImage, "/"), Data: data, Mode: 0o755})
		}
		specs = append(specs, hs)
	}
	for _, b := range binaries {
		s, err := binaryImage(b.ref, b.bin, b.inImage)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", b.ref, err)
		}
		specs = append(specs, s)
	}
	return specs, nil
}

// buildImages writes every image as a tarball under images/.
func (k *cluster) buildImages(ctx context.Context) error {
	specs, err := k.images(ctx)
	if err != nil {
		return err
	}
	dir := k.cfg.path("images")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, s := range specs {
		if err := s.build(filepath.Join(dir, imageFileName(s.Ref))); err != nil {
			return fmt.Errorf("image %s: %w", s.Ref, err)
		}
	}
	return nil
}

func imageFileName(ref string) string {
	return strings.NewReplacer("/", "_", ":", "_").Replace(ref) + ".tar"
}

// importImages loads every tarball under images/ into containerd.
func (k *cluster) importImages(ctx context.Context) error {
	files, err := filepath.Glob(k.cfg.path("images", "*.tar"))
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := importImage(ctx, k.containerdSocket(), f); err != nil {
			return err
		}
	}
	return nil
}
