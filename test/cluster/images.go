package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Images of the local cluster, all built on this machine (no registry can
// be reached) and imported into containerd's k8s.io namespace. Pods use
// them with imagePullPolicy Never or IfNotPresent.
const (
	imageHopscope = "hopscope.local/hopscope:dev"
	imageShop     = "hopscope.local/shop:dev"
	imagePause    = "hopscope.local/pause:1"
	imageCoreDNS  = "hopscope.local/coredns:dev"
	imageJaeger   = "hopscope.local/jaeger:dev"
	imageNginx    = "hopscope.local/ingress-nginx:dev"
	imageGateway  = "hopscope.local/gateway:dev"
	imageAdapter  = "hopscope.local/prometheus-adapter:dev"
)

// imageSpec is one single-layer OCI image: its files and its config.
type imageSpec struct {
	Ref          string
	Files        []imageFile
	Entrypoint   []string
	Cmd          []string
	User         string
	Env          []string
	ExposedPorts []string // "15080/tcp"
	Labels       map[string]string
}

// imageFile is a file, a directory (Dir) or a symlink (Link) of the layer.
type imageFile struct {
	Path string
	Data []byte
	Mode int64
	Dir  bool
	Link string
	UID  int
}

// nonrootBase is what distroless/static-debian12:nonroot gives the
// hopscope image: root, nonroot (65532) and nobody, CA certificates, /tmp
// and nonroot's home.
func nonrootBase() ([]imageFile, error) {
	certs, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		return nil, fmt.Errorf("CA certificates for the image (apt-get install ca-certificates): %w", err)
	}
	passwd := "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group := "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n"
	return []imageFile{
		{Path: "etc/passwd", Data: []byte(passwd), Mode: 0o644},
		{Path: "etc/group", Data: []byte(group), Mode: 0o644},
		{Path: "etc/ssl/certs/ca-certificates.crt", Data: certs, Mode: 0o644},
		{Path: "tmp", Dir: true, Mode: 0o1777},
		{Path: "home/nonroot", Dir: true, Mode: 0o700, UID: 65532},
	}, nil
}

// hopscopeBinaries are the programs of the hopscope image, as the
// Dockerfile builds and copies them (TestDaemonlessImageMatchesDockerfile
// holds the two together): the package built and its path in the image.
// The entrypoint is the first; the chart's sidecar template runs the slim
// sidecar by its path (command), so the cluster test runs it in every
// injected pod.
var hopscopeBinaries = []struct{ pkg, inImage string }{
	{"./cmd/hopscope", "/hopscope"},
	{"./cmd/hopscope-sidecar", "/hopscope-sidecar"},
}

// hopscopeImageConfig is the hopscope image's config as the Dockerfile
// describes it (TestDaemonlessImageMatchesDockerfile holds the two
// together): entrypoint, user, ports and OCI labels.
func hopscopeImageConfig(version, revision, created string) imageSpec {
	return imageSpec{
		Ref:          imageHopscope,
		Entrypoint:   []string{hopscopeBinaries[0].inImage},
		User:         "65532:65532",
		ExposedPorts: []string{"15080/tcp", "15090/tcp", "4317/tcp", "4318/tcp", "24224/tcp", "8088/tcp", "8089/tcp", "8443/tcp", "9090/tcp"},
		Labels: map[string]string{
			"org.opencontainers.image.title":         "hopscope",
			"org.opencontainers.image.description":   "eBPF-free per-hop latency for Kubernetes: sidecar, collector and sidecar injector in one binary, and the sidecar alone in a slim one",
			"org.opencontainers.image.source":        "https://github.com/hopscope/hopscope",
			"org.opencontainers.image.url":           "https://github.com/hopscope/hopscope",
			"org.opencontainers.image.documentation": "https://github.com/hopscope/hopscope#readme",
			"org.opencontainers.image.version":       version,
			"org.opencontainers.image.revision":      revision,
			"org.opencontainers.image.created":       created,
		},
	}
}

// binaryImage is one binary of this machine at inImage, with every
// shared library and the loader that ldd names for it (none for a static
// binary) at the paths ldd names, on the nonroot base, run as 65532: how
// the ingress nginx image is made from Debian's nginx, and Jaeger from the
// binary tools/ builds.
func binaryImage(ref, bin, inImage string) (imageSpec, error) {
	files, err := nonrootBase()
	if err != nil {
		return imageSpec{}, err
	}
	libs, err := linkedLibraries(bin)
	if err != nil {
		return imageSpec{}, err
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return imageSpec{}, err
	}
	files = append(files, imageFile{Path: inImage, Data: data, Mode: 0o755})
	for _, p := range libs {
		data, err := os.ReadFile(p) // follows symlinks: the image gets the file itself
		if err != nil {
			return imageSpec{}, err
		}
		files = append(files, imageFile{Path: p, Data: data, Mode: 0o755})
	}
	return imageSpec{Ref: ref, Files: files, Entrypoint: []string{inImage}, User: "65532:65532"}, nil
}

var lddLine = regexp.MustCompile(`(?:=>\s*)?(/\S+)\s+\(0x`)

// linkedLibraries lists the shared libraries and the loader bin needs.
func linkedLibraries(bin string) ([]string, error) {
	out, err := exec.Command("ldd", bin).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "not a dynamic executable") {
			return nil, nil
		}
		return nil, fmt.Errorf("ldd %s: %v: %s", bin, err, out)
	}
	var libs []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if strings.Contains(sc.Text(), "not found") {
			return nil, fmt.Errorf("ldd %s: %s", bin, strings.TrimSpace(sc.Text()))
		}
		if m := lddLine.FindStringSubmatch(sc.Text()); m != nil {
			libs = append(libs, m[1])
		}
	}
	return libs, nil
}

// build writes spec as a docker-archive tarball (what `ctr images import`
// reads) to file.
func (spec imageSpec) build(file string) error {
	layer, err := spec.layer()
	if err != nil {
		return fmt.Errorf("image %s: %w", spec.Ref, err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created = "linux", "amd64", v1.Time{Time: time.Now().UTC().Truncate(time.Second)}
	cf.Config = spec.config()
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return err
	}
	tag, err := name.NewTag(spec.Ref)
	if err != nil {
		return err
	}
	return tarball.WriteToFile(file, tag, img)
}

// config is the image config (the part `docker inspect` shows as Config).
func (spec imageSpec) config() v1.Config {
	c := v1.Config{Entrypoint: spec.Entrypoint, Cmd: spec.Cmd, User: spec.User, Labels: spec.Labels,
		Env: append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, spec.Env...)}
	if strings.HasPrefix(spec.User, "65532") {
		c.Env = append(c.Env, "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt")
	}
	if len(spec.ExposedPorts) > 0 {
		c.ExposedPorts = map[string]struct{}{}
		for _, p := range spec.ExposedPorts {
			c.ExposedPorts[p] = struct{}{}
		}
	}
	return c
}

// layer is the files as one uncompressed tar layer, parents first.
func (spec imageSpec) layer() (v1.Layer, error) {
	files := map[string]imageFile{}
	for _, f := range spec.Files {
		f.Path = strings.Trim(path.Clean("/"+f.Path), "/")
		files[f.Path] = f
		for d := path.Dir(f.Path); d != "." && d != "/"; d = path.Dir(d) {
			if _, ok := files[d]; !ok {
				files[d] = imageFile{Path: d, Dir: true, Mode: 0o755}
			}
		}
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(0, 0)
	for _, n := range names {
		f := files[n]
		h := &tar.Header{Name: n, Mode: f.Mode, ModTime: mtime, Uid: f.UID, Gid: f.UID, Format: tar.FormatPAX}
		switch {
		case f.Dir:
			h.Typeflag, h.Name = tar.TypeDir, n+"/"
		case f.Link != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, f.Link
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.Data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(f.Data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
}

// importImage loads a docker-archive tarball into containerd's k8s.io
// namespace, unpacked for the CRI's snapshotter.
func importImage(ctx context.Context, socket, file string) error {
	out, err := exec.CommandContext(ctx, "ctr", "--address", socket, "--namespace", "k8s.io", "images", "import", file).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ctr images import %s: %v: %s", file, err, out)
	}
	return nil
}
